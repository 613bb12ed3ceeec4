#!/usr/bin/env node
// `pnpm bench:commands`: command round trips through the real path (create_command RPC →
// command-gateway → outbox → COMMANDS → mqtt-ingress → MQTT QoS 1 → device → cmd/res →
// ingress → DEVICE → gateway → `command.succeeded` event), open loop at BENCH_RATE commands/s
// for BENCH_SECONDS over BENCH_DEVICES connected mqtt.js devices; once idle and once with
// BENCH_TELEMETRY_RATE telemetry msg/s flowing. In the same run, the floor: the bare MQTT QoS 1
// round trip between two mqtt.js clients through the same broker. Prints p50/p95/p99 (and p95
// by send-time window), the failed ratio, and where the CPU went (each service process,
// Postgres, NATS, the broker, the simulated devices, the telemetry publishers, the load
// generator) per command. Built code (run `pnpm exec turbo run build` first); registry,
// ingress and gateway run in their own processes, as deployed, and so do the simulated devices
// and the telemetry publishers (real devices are not in the process that sends the commands and
// waits for their events; in one process, each delays the other). The broker is a private
// Mosquitto on a free port tuned as deploy/mosquitto/mosquitto.conf is (Nagle off, raised
// in-flight window); BENCH_BROKER=shared uses MQTT_URL instead. Shared NATS, Postgres and Redis
// with a throw-away namespace, schemas and topic prefix, cleaned up.
//
// Knobs (environment): BENCH_DEVICES (2000), BENCH_RATE (1000), BENCH_SECONDS (60),
// BENCH_WARMUP_SECONDS (0; seconds before the measured runs, printed apart; at
// BENCH_WARMUP_RATE, default the full rate, over the first BENCH_WARMUP_DEVICES, default all),
// BENCH_TELEMETRY_RATE (10000; 0 skips the second run), BENCH_TELEMETRY_BATCH (the ingress's
// TELEMETRY_BATCH_MAX, 256 as bench:telemetry's throughput configuration; 1 = a JetStream
// message per record, the service default), BENCH_BROKER (private | shared), BENCH_NATS
// (shared | private: a nats-server of its own on a free port; BENCH_NATS_GOMAXPROCS sets its
// GOMAXPROCS, as a container CPU limit would through the server's automaxprocs),
// BENCH_GATEWAY_ENV / BENCH_INGRESS_ENV / BENCH_REGISTRY_ENV (JSON objects of extra settings
// for that service, e.g. '{"REPORT_BATCH_WAIT_MS":"3"}'),
// BENCH_INGRESS_SPLIT=1 (two ingress processes: INGRESS_ROLE=devices as `ingress` and
// INGRESS_ROLE=commands as `ingress-cmd`),
// BENCH_DEBUG (prints each service's event-loop utilization every second), BENCH_CPU_PROF_DIR
// (writes a CPU profile of each service there), MQTT_URL (shared
// broker), MOSQUITTO_BIN, NATS_URL, DATABASE_URL, REDIS_URL.
import { fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cpuByCommand,
  cpuDelta,
  freePort,
  machineProbe,
  processCpuSeconds,
  waitPort,
} from './lib/proc.mjs';
import { drained } from './lib/streams.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const req = createRequire(join(root, 'services', 'command-gateway', 'package.json'));
const mqtt = req('mqtt');
const { connect: natsConnect, JSONCodec } = req('nats');
const dist = (svc) => join(root, 'services', svc, 'dist', 'index.js');

const num = (k, d) => Number(process.env[k] ?? d);
const DEVICES = num('BENCH_DEVICES', 2000);
const RATE = num('BENCH_RATE', 1000);
const SECONDS = num('BENCH_SECONDS', 60);
// Seconds at the full rate before the measured runs (JIT, caches, pools), printed apart.
const WARMUP_SECONDS = num('BENCH_WARMUP_SECONDS', 0);
const WARMUP_RATE = num('BENCH_WARMUP_RATE', RATE);
const WARMUP_DEVICES = num('BENCH_WARMUP_DEVICES', DEVICES);
const TELEMETRY_RATE = num('BENCH_TELEMETRY_RATE', 10000);
// The ingress's TELEMETRY_BATCH_MAX: the throughput configuration, as in bench:telemetry.
const TELEMETRY_BATCH = num('BENCH_TELEMETRY_BATCH', 256);
const PRIVATE_BROKER = (process.env.BENCH_BROKER ?? 'private') !== 'shared';
const PRIVATE_NATS = (process.env.BENCH_NATS ?? 'shared') === 'private';
const INGRESS_SPLIT = process.env.BENCH_INGRESS_SPLIT === '1';
const SERVERS = {
  NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
};
let MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const TENANT = 'bench';
const jc = JSONCodec();

// ---------------------------------------------------------------- children: one service each

/** Extra settings of a service, as a JSON object in the named variable (tuning experiments). */
function extraEnv(name) {
  return process.env[name] ? JSON.parse(process.env[name]) : {};
}

async function service(role) {
  const ns = process.env.BENCH_NS;
  MQTT_URL = process.env.BENCH_MQTT_URL;
  const quiet = { LOG_LEVEL: 'warn', DROVER_NAMESPACE: ns, OPS_PORT: '0' };
  let svc;
  let ingressClients = [];
  if (role === 'registry') {
    const { startDeviceRegistry } = req(join(root, 'services/device-registry/dist/app.js'));
    svc = await startDeviceRegistry(
      { ...SERVERS, ...quiet, DB_SCHEMA: `${ns}_reg`, ...extraEnv('BENCH_REGISTRY_ENV') },
      { ensureStreams: true },
    );
  } else if (role === 'ingress' || role === 'ingress-cmd') {
    const { startMqttIngress, loadIngressConfig } = req(dist('mqtt-ingress'));
    const ingressRole = !INGRESS_SPLIT ? 'all' : role === 'ingress' ? 'devices' : 'commands';
    svc = await startMqttIngress(
      loadIngressConfig({
        ...SERVERS,
        ...quiet,
        MQTT_URL: process.env.BENCH_MQTT_URL,
        MQTT_TOPIC_PREFIX: ns,
        MQTT_CLIENT_ID: `${ns}-${role}`,
        INGRESS_ROLE: ingressRole,
        ENSURE_STREAMS: 'false',
        TELEMETRY_BATCH_MAX: String(TELEMETRY_BATCH),
        ...extraEnv('BENCH_INGRESS_ENV'),
      }),
      { opsServer: false },
    );
    ingressClients = svc.clientIds;
  } else if (role === 'devices') {
    svc = await startDevices(ns);
  } else if (role === 'telemetry') {
    svc = await startTelemetry(ns);
  } else {
    const { startCommandGateway } = req(dist('command-gateway'));
    svc = await startCommandGateway({
      ...SERVERS,
      ...quiet,
      DB_SCHEMA: `${ns}_cmd`,
      OUTBOX_POLL_MS: 50,
      ...extraEnv('BENCH_GATEWAY_ENV'),
    });
  }
  // Event loop utilization, sampled for the parent's summary (a loop near 1 is CPU-bound: the
  // round trip then measures queueing, not the path).
  let elu = performance.eventLoopUtilization();
  const eluSamples = [];
  setInterval(() => {
    const now = performance.eventLoopUtilization();
    eluSamples.push(performance.eventLoopUtilization(now, elu).utilization);
    elu = now;
    if (process.env.BENCH_DEBUG) console.error(`${role} elu=${eluSamples.at(-1).toFixed(2)}`);
  }, 1000).unref();
  process.send({ ready: true, ingressClients });
  process.on('disconnect', () => process.exit(1));
  process.on('message', async (m) => {
    if (m === 'elu') {
      const busy = eluSamples.length === 0 ? 0 : Math.max(...eluSamples.slice(-5));
      process.send({ elu: busy });
      return;
    }
    if (m?.ask !== undefined) {
      process.send({ answer: m.ask, value: await svc[m.ask](m.arg) });
      return;
    }
    if (m !== 'stop') return;
    await svc.stop();
    process.send({ stopped: true });
    process.exit(0);
  });
}

// ---------------------------------------------------------------- parent: load and figures

function quantiles(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))]);
  return { n: s.length, p50: q(0.5), p95: q(0.95), p99: q(0.99) };
}
const fmt = (q) =>
  `n=${q.n} p50=${q.p50?.toFixed(1)} ms p95=${q.p95?.toFixed(1)} ms p99=${q.p99?.toFixed(1)} ms`;
const now = () => performance.now();

// ------------------------------------------- children: the simulated devices, the telemetry

// When each command reached its device (wall clock, ms), by command id (devices child).
const deviceAt = new Map();

/**
 * The simulated devices, in a process of their own (real devices are not in the process that
 * sends the commands and waits for their events): `b0` … `b<BENCH_DEVICES - 1>`, each an
 * mqtt.js client that answers every command at once.
 */
async function startDevices(ns) {
  const clients = [];
  for (let i = 0; i < DEVICES; i += 100) {
    const ids = Array.from({ length: Math.min(100, DEVICES - i) }, (_, k) => `b${i + k}`);
    clients.push(...(await Promise.all(ids.map((id) => connectDevice(ns, id)))));
  }
  return {
    // When the commands reached their devices, since the last call: [command id, ms][].
    takeDeviceAt: () => {
      const out = [...deviceAt];
      deviceAt.clear();
      return out;
    },
    stop: () => Promise.all(clients.map((c) => c.endAsync(true))),
  };
}

/** Telemetry from other device ids at `rate` msg/s (QoS 0), in a process of its own. */
async function startTelemetry(ns) {
  const pubs = await Promise.all(
    [0, 1, 2, 3].map((i) => mqtt.connectAsync(MQTT_URL, { clientId: `${ns}-tel-${i}` })),
  );
  let timer = null;
  let k = 0;
  return {
    rate: (rate) => {
      clearInterval(timer);
      if (rate > 0) {
        timer = setInterval(() => {
          for (let j = 0; j < rate / 100; j++) {
            const id = `b${k++ % DEVICES}`;
            pubs[k % pubs.length].publish(
              `${ns}/${TENANT}/sensor/${id}/telemetry`,
              JSON.stringify({
                msg_id: `t${k}`,
                ts: Date.now(),
                schema_version: 1,
                metrics: { v: k },
              }),
              { qos: 0 },
            );
          }
        }, 10);
      }
      return rate;
    },
    stop: async () => {
      clearInterval(timer);
      await Promise.all(pubs.map((p) => p.endAsync()));
    },
  };
}

/** Asks a child's service `op` (with `arg`) and waits for its answer. */
function ask(child, op, arg) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m.answer !== op) return;
      child.off('message', on);
      resolve(m.value);
    };
    child.on('message', on);
    child.send({ ask: op, arg });
  });
}

async function connectDevice(ns, id) {
  const c = await mqtt.connectAsync(MQTT_URL, {
    clientId: `${ns}-${id}`,
    clean: true,
    reconnectPeriod: 0,
  });
  c.stream.setNoDelay(true);
  const root = `${ns}/${TENANT}/sensor/${id}`;
  c.on('message', (_t, payload) => {
    const { msg_id } = JSON.parse(payload.toString());
    deviceAt.set(msg_id, Date.now());
    c.publish(
      `${root}/cmd/res`,
      JSON.stringify({
        msg_id: `r-${msg_id}`,
        ts: Date.now(),
        schema_version: 1,
        cmd_id: msg_id,
        status: 'succeeded',
      }),
      { qos: 1 },
    );
  });
  await c.subscribeAsync(`${root}/cmd`, { qos: 1 });
  await c.publishAsync(
    `${root}/status`,
    JSON.stringify({
      msg_id: `s-${Date.now()}`,
      ts: Date.now(),
      schema_version: 1,
      state: 'online',
      firmware_version: '1.0.0',
    }),
    { qos: 1, retain: true },
  );
  return c;
}

async function floor(ns, count) {
  const a = await mqtt.connectAsync(MQTT_URL, { clientId: `${ns}-floor-a` });
  const b = await mqtt.connectAsync(MQTT_URL, { clientId: `${ns}-floor-b` });
  for (const c of [a, b]) c.stream.setNoDelay(true);
  await a.subscribeAsync(`${ns}/floor/res`, { qos: 1 });
  await b.subscribeAsync(`${ns}/floor/cmd`, { qos: 1 });
  b.on('message', (_t, p) => b.publish(`${ns}/floor/res`, p, { qos: 1 }));
  const pending = new Map();
  const rtts = [];
  a.on('message', (_t, p) => {
    const t0 = pending.get(p.toString());
    if (t0 !== undefined) rtts.push(now() - t0);
  });
  for (let i = 0; i < count; i++) {
    pending.set(String(i), now());
    a.publish(`${ns}/floor/cmd`, String(i), { qos: 1 });
    await new Promise((r) => setTimeout(r, 1000 / RATE));
  }
  await new Promise((r) => setTimeout(r, 1000));
  await Promise.all([a.endAsync(), b.endAsync()]);
  return quantiles(rtts);
}

function askElu(child) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m.elu === undefined) return;
      child.off('message', on);
      resolve(m.elu);
    };
    child.on('message', on);
    child.send('elu');
  });
}

// Where the CPU goes: each service process by pid, the servers by command name (Postgres sums
// its backends; on a shared machine that includes other clients' queries), and this process.
const SERVER_NAMES = ['postgres', 'nats-server', 'mosquitto'];
// Private servers (name → pid) are counted by pid; the shared ones of that name are not in
// the path.
const privatePids = new Map();
function cpuSnapshot(services) {
  const u = process.cpuUsage();
  const pids = Object.entries(services).map(([role, c]) => [role, c.pid]);
  pids.push(...privatePids);
  const servers = cpuByCommand();
  for (const name of privatePids.keys()) servers.delete(name);
  return {
    services: Object.fromEntries(pids.map(([role, pid]) => [role, processCpuSeconds(pid)])),
    servers,
    generator: (u.user + u.system) / 1e6,
  };
}
function cpuPerCommand(before, after, total) {
  const ms = (sec) => (sec * 1000) / total;
  const out = {};
  for (const role of Object.keys(before.services))
    out[role] = ms(after.services[role] - before.services[role]);
  const names = SERVER_NAMES.filter((n) => !(n in out)); // a private broker is counted by pid
  for (const [name, sec] of Object.entries(cpuDelta(before.servers, after.servers, names)))
    out[name] = ms(sec);
  out.generator = ms(after.generator - before.generator);
  return out;
}
const fmtCpu = (c) =>
  Object.entries(c)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');

async function run(ns, nc, deviceIds, telemetryRate, services, seconds = SECONDS, rate = RATE) {
  const cpu0 = cpuSnapshot(services);
  const started = new Map();
  const stages = new Map();
  const stageOf = (id) => {
    let st = stages.get(id);
    if (st === undefined) stages.set(id, (st = {}));
    return st;
  };
  const rtts = [];
  // [send time since the start of the run, round trip] of each succeeded command.
  const timed = [];
  let runStart = 0;
  let failed = 0;
  let errors = 0;
  const sub = nc.subscribe(`${ns}.iot.evt.${TENANT}.command.>`);
  (async () => {
    for await (const m of sub) {
      const e = jc.decode(m.data);
      // Stage times (wall clock, ms): when each event was made (`at`) and when it arrived here.
      const st = stageOf(e.data.command_id);
      st[`${e.data.status}At`] = Date.parse(e.data.at);
      st[`${e.data.status}Seen`] = Date.now();
      const t0 = started.get(e.data.command_id);
      if (
        t0 === undefined ||
        !['succeeded', 'failed', 'rejected', 'timed_out', 'dead_lettered', 'expired'].includes(
          e.data.status,
        )
      )
        continue;
      started.delete(e.data.command_id);
      if (e.data.status === 'succeeded') {
        rtts.push(now() - t0);
        timed.push([t0 - runStart, now() - t0]);
      } else failed++;
    }
  })();
  if (telemetryRate > 0) await ask(services.telemetry, 'rate', telemetryRate);
  const total = rate * seconds;
  const t0 = now();
  runStart = t0;
  const inflight = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const body = {
      tenant: TENANT,
      device_id: deviceIds[i % deviceIds.length],
      name: 'bench',
      timeout_s: 30,
    };
    const start = now();
    const wallStart = Date.now();
    inflight.push(
      nc
        .request(`${ns}.iot.rpc.command-gateway.create_command`, jc.encode(body), {
          timeout: 10000,
        })
        .then((m) => {
          const r = jc.decode(m.data);
          if (r.error) throw new Error(r.error.error_code);
          started.set(r.result.command.command_id, start);
          stageOf(r.result.command.command_id).start = wallStart;
        })
        .catch(() => errors++),
    );
  }
  // The rate the generator held (open loop: sends do not wait for answers).
  const offered = total / ((now() - t0) / 1000);
  await Promise.all(inflight);
  const deadline = now() + 35_000;
  while (started.size > 0 && now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (telemetryRate > 0) await ask(services.telemetry, 'rate', 0);
  sub.unsubscribe();
  const lost = started.size;
  const cpu1 = cpuSnapshot(services);
  const elu = {};
  for (const [role, c] of Object.entries(services)) elu[role] = await askElu(c);
  return {
    // CPU per command of each service process, the servers and the generator, all of it.
    cpu: cpuPerCommand(cpu0, cpu1, total),
    stages: stageSummary(stages, new Map(await ask(services.devices, 'takeDeviceAt'))),
    recorded: recordedRoundTrips(stages),
    elu,
    q: quantiles(rtts),
    windows: byWindow(timed),
    failedRatio: (failed + lost + errors) / total,
    errors,
    lost,
    achieved: offered,
  };
}

// A private broker tuned as deploy/mosquitto/mosquitto.conf (Nagle off: without it every QoS 1
// round trip waits on delayed ACKs; in-flight window and queue raised for 2,000 busy devices).
async function startBroker(dir) {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_inflight_messages 1000',
      'max_queued_messages 100000',
      'set_tcp_nodelay true',
      process.getuid?.() === 0 ? 'user root' : '',
      '',
    ].join('\n'),
  );
  const broker = spawn(process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto', ['-c', conf], {
    stdio: 'ignore',
  });
  await waitPort(port);
  return { broker, url: `mqtt://127.0.0.1:${port}` };
}

// A private JetStream server; BENCH_NATS_GOMAXPROCS as a container CPU limit would set it.
async function startNats(dir) {
  const port = await freePort();
  const env = { ...process.env };
  if (process.env.BENCH_NATS_GOMAXPROCS) env.GOMAXPROCS = process.env.BENCH_NATS_GOMAXPROCS;
  const server = spawn(
    process.env.NATS_BIN ?? '/usr/sbin/nats-server',
    ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'js')],
    { stdio: 'ignore', env },
  );
  await waitPort(port);
  return { server, url: `nats://127.0.0.1:${port}` };
}

async function stopServer(child) {
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
}

function startService(role, ns) {
  const prof = process.env.BENCH_CPU_PROF_DIR;
  const child = fork(fileURLToPath(import.meta.url), [`--role=${role}`], {
    env: { ...process.env, BENCH_NS: ns, BENCH_MQTT_URL: MQTT_URL },
    execArgv: prof
      ? ['--cpu-prof', '--cpu-prof-dir', prof, '--cpu-prof-name', `${role}.cpuprofile`]
      : [],
  });
  return new Promise((resolve, reject) => {
    child.on('message', (m) => m.ready && resolve({ child, ingressClients: m.ingressClients }));
    child.once('exit', (code) => reject(new Error(`${role} exited (${code}) before it was ready`)));
  });
}

async function stopService(child) {
  child.send('stop');
  await new Promise((r) => child.on('exit', r));
}

// Where a succeeded command's time went (medians, ms; wall clocks of one machine).
function stageSummary(stages, deviceAt) {
  for (const [id, st] of stages) st.deviceAt = deviceAt.get(id);
  const spans = {
    'create→queued': (s) => s.queuedAt - s.start,
    'queued→at the device': (s) => s.deviceAt - s.queuedAt,
    'at the device→succeeded': (s) => s.succeededAt - s.deviceAt,
    'queued→sent (relay, ingress, broker ack, report)': (s) => s.sentAt - s.queuedAt,
    'sent→succeeded (device, ingress, report)': (s) => s.succeededAt - s.sentAt,
    'succeeded→event seen (relay)': (s) => s.succeededSeen - s.succeededAt,
    'queued→event seen (relay)': (s) => s.queuedSeen - s.queuedAt,
  };
  const done = [...stages.values()].filter(
    (s) =>
      s.start &&
      s.queuedAt &&
      s.deviceAt &&
      s.sentAt &&
      s.succeededAt &&
      s.succeededSeen &&
      s.queuedSeen,
  );
  return Object.fromEntries(Object.entries(spans).map(([k, f]) => [k, quantiles(done.map(f)).p50]));
}

/**
 * Create request sent → succeeded as the gateway recorded it (the `at` of its event): the round
 * trip `drover_command_round_trip_seconds` observes, without the event's way to a consumer.
 */
function recordedRoundTrips(stages) {
  const done = [...stages.values()].filter((s) => s.start && s.succeededAt);
  return quantiles(done.map((s) => s.succeededAt - s.start));
}

/** p95 of the round trips by the window of the run they were sent in (a backlog shows here). */
function byWindow(timed) {
  const size = Math.max(5, Math.round(SECONDS / 6)) * 1000;
  const groups = new Map();
  for (const [at, rtt] of timed) {
    const w = Math.floor(at / size);
    if (!groups.has(w)) groups.set(w, []);
    groups.get(w).push(rtt);
  }
  return [...groups.keys()]
    .sort((a, b) => a - b)
    .map((w) => ({
      from: (w * size) / 1000,
      to: ((w + 1) * size) / 1000,
      p95: quantiles(groups.get(w)).p95,
    }));
}

function printRun(label, r) {
  console.log(
    `${label} ${fmt(r.q)} failed=${(r.failedRatio * 100).toFixed(3)} % achieved=${r.achieved.toFixed(0)}/s`,
  );
  console.log(
    `  p95 by send time: ${r.windows.map((w) => `${w.from}–${w.to} s ${w.p95.toFixed(0)} ms`).join(', ')}`,
  );
  console.log(`  recorded by the gateway (no event leg): ${fmt(r.recorded)}`);
  console.log(`  cpu ms/command: ${fmtCpu(r.cpu)}`);
  console.log(
    `  stages (p50 ms): ${Object.entries(r.stages)
      .map(([k, v]) => `${k} ${v}`)
      .join('; ')}`,
  );
  console.log(
    `  event-loop utilization (max of the last 5 s): ${Object.entries(r.elu)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ')}`,
  );
}

async function main() {
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const dir = await mkdtemp(join(os.tmpdir(), 'drover-bench-commands-'));
  let broker = null;
  if (PRIVATE_BROKER) {
    ({ broker, url: MQTT_URL } = await startBroker(dir));
    privatePids.set('mosquitto', broker.pid);
  }
  let natsServer = null;
  if (PRIVATE_NATS) {
    const started = await startNats(dir);
    natsServer = started.server;
    // The services read it from their environment.
    process.env.NATS_URL = SERVERS.NATS_URL = started.url;
    privatePids.set('nats-server', natsServer.pid);
  }
  // The registry creates the streams; ingress and gateway start once they exist.
  const registry = await startService('registry', ns);
  const [ingress, gateway, ingressCmd] = await Promise.all([
    startService('ingress', ns),
    startService('gateway', ns),
    INGRESS_SPLIT ? startService('ingress-cmd', ns) : null,
  ]);
  const services = { registry: registry.child, ingress: ingress.child, gateway: gateway.child };
  if (ingressCmd) services['ingress-cmd'] = ingressCmd.child;
  console.error(`services ready (broker ${MQTT_URL})`);
  // As the services connect (connectBus): no stack captured per create_command request.
  const nc = await natsConnect({ servers: SERVERS.NATS_URL, noAsyncTraces: true });
  const deviceIds = Array.from({ length: DEVICES }, (_, i) => `b${i}`);
  for (let i = 0; i < deviceIds.length; i += 50) {
    await Promise.all(
      deviceIds.slice(i, i + 50).map((id) =>
        nc.request(
          `${ns}.iot.rpc.device-registry.create_device`,
          jc.encode({
            tenant: TENANT,
            device_id: id,
            device_type: 'sensor',
            hardware_id: `hw-${id}`,
          }),
          { timeout: 10000 },
        ),
      ),
    );
  }
  console.error('devices registered');
  const tc = now();
  const [devices, telemetry] = await Promise.all([
    startService('devices', ns),
    startService('telemetry', ns),
  ]);
  services.devices = devices.child;
  services.telemetry = telemetry.child;
  console.error(`devices connected in ${((now() - tc) / 1000).toFixed(1)} s`);
  // Every device's presence must have reached the gateway (and the registry's events settled)
  // before the clock starts: a command for a device still offline there waits for it.
  const pg = req('pg');
  const presence = new pg.Client({ connectionString: SERVERS.DATABASE_URL });
  await presence.connect();
  const t = now();
  for (;;) {
    const { rows } = await presence.query(
      `select count(*)::int as n from ${ns}_cmd.device_presence where online`,
    );
    if (rows[0].n >= deviceIds.length) break;
    if (now() - t > 120_000) throw new Error(`only ${rows[0].n} devices online at the gateway`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const atGateway = (now() - t) / 1000;
  // ... and every service must have worked off the connects (the registry's presence
  // updates and device events, their consumers at the gateway and the ingress): a backlog
  // left from the set-up would share the CPU with the first seconds of the measured run.
  const jsm = await nc.jetstreamManager();
  const streams = [];
  for await (const name of jsm.streams.names())
    if (name.startsWith(`${ns.toUpperCase()}_`)) streams.push(name);
  await drained(jsm, streams, 'set-up backlog', {
    timeoutMs: 120_000,
    quiet: async () => {
      const { rows } = await presence.query(
        `select count(*)::int as n from ${ns}_reg.outbox where sent_at is null`,
      );
      return rows[0].n === 0;
    },
  });
  await presence.end();
  console.error(
    `presence settled in ${((now() - t) / 1000).toFixed(1)} s ` +
      `(every device online at the gateway after ${atGateway.toFixed(1)} s)`,
  );
  console.log(
    `devices=${DEVICES} rate=${RATE}/s seconds=${SECONDS} telemetry batch=${TELEMETRY_BATCH}`,
  );
  const probeBefore = machineProbe();
  console.log(
    `floor (bare MQTT QoS 1 round trip): ${fmt(await floor(ns, Math.min(RATE * 10, 10000)))}`,
  );
  if (WARMUP_SECONDS > 0) {
    printRun(
      `warm-up (${WARMUP_SECONDS} s at ${WARMUP_RATE}/s, not counted):`,
      await run(
        ns,
        nc,
        deviceIds.slice(0, WARMUP_DEVICES),
        0,
        services,
        WARMUP_SECONDS,
        WARMUP_RATE,
      ),
    );
  }
  printRun('idle:', await run(ns, nc, deviceIds, 0, services));
  if (TELEMETRY_RATE > 0) {
    printRun(
      `telemetry ${TELEMETRY_RATE}/s:`,
      await run(ns, nc, deviceIds, TELEMETRY_RATE, services),
    );
  }
  // The machine's speed before and after the runs (see machineProbe): compare runs by it.
  console.log(
    `machine probe (fixed single-threaded work, lower is faster): ${probeBefore} ms before, ` +
      `${machineProbe()} ms after`,
  );
  // Clean up: devices, retained status, services, schemas, streams.
  const cleaner = await mqtt.connectAsync(MQTT_URL, { clientId: `${ns}-cleaner` });
  for (const id of deviceIds)
    cleaner.publish(`${ns}/${TENANT}/sensor/${id}/status`, '', { qos: 1, retain: true });
  await Promise.all([stopService(devices.child), stopService(telemetry.child)]);
  await cleaner.endAsync();
  await Promise.all([
    stopService(gateway.child),
    stopService(ingress.child),
    ingressCmd && stopService(ingressCmd.child),
  ]);
  await stopService(registry.child);
  if (broker) await stopServer(broker);
  else {
    for (const id of [...ingress.ingressClients, ...(ingressCmd?.ingressClients ?? [])])
      await (await mqtt.connectAsync(MQTT_URL, { clientId: id, clean: true })).endAsync();
  }
  const client = new pg.Client({ connectionString: SERVERS.DATABASE_URL });
  await client.connect();
  for (const s of [`${ns}_reg`, `${ns}_cmd`])
    await client.query(`drop schema if exists "${s}" cascade`);
  await client.end();
  // Its streams and the KV_/OBJ_ streams of its buckets (the ingress's session ledger).
  await req('@drover/testing').cleanupNamespace(ns, { natsUrl: SERVERS.NATS_URL, redisUrl: null });
  await nc.close();
  if (natsServer) await stopServer(natsServer);
  await rm(dir, { recursive: true, force: true }); // the private servers' files
}

// Last: the helpers above must be initialized before either role runs.
const role = process.argv.find((a) => a.startsWith('--role='))?.slice('--role='.length);
if (role) await service(role);
else await main();
