#!/usr/bin/env node
// `pnpm bench:commands`: command round trips through the real path (create_command RPC →
// command-gateway → outbox → COMMANDS → mqtt-ingress → MQTT QoS 1 → device → cmd/res →
// ingress → DEVICE → gateway → `command.succeeded` event), open loop at BENCH_RATE commands/s
// for BENCH_SECONDS over BENCH_DEVICES connected mqtt.js devices; once idle and once with
// BENCH_TELEMETRY_RATE telemetry msg/s flowing. In the same run, the floor: the bare MQTT QoS 1
// round trip between two mqtt.js clients through the same broker. Prints p50/p95/p99 and the
// failed ratio. Built code (run `pnpm exec turbo run build` first); the services run in one
// child process so the load generator does not share their event loop. Shared servers, a
// throw-away namespace, schema and topic prefix, cleaned up.
//
// Knobs (environment): BENCH_DEVICES (2000), BENCH_RATE (1000), BENCH_SECONDS (60),
// BENCH_TELEMETRY_RATE (10000; 0 skips the second run), MQTT_URL, NATS_URL, DATABASE_URL,
// REDIS_URL.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const req = createRequire(join(root, 'services', 'command-gateway', 'package.json'));
const mqtt = req('mqtt');
const { connect: natsConnect, JSONCodec } = req('nats');
const dist = (svc) => join(root, 'services', svc, 'dist', 'index.js');

const num = (k, d) => Number(process.env[k] ?? d);
const DEVICES = num('BENCH_DEVICES', 2000);
const RATE = num('BENCH_RATE', 1000);
const SECONDS = num('BENCH_SECONDS', 60);
const TELEMETRY_RATE = num('BENCH_TELEMETRY_RATE', 10000);
const SERVERS = {
  NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
};
const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const TENANT = 'bench';
const jc = JSONCodec();

// ---------------------------------------------------------------- child: the services

async function services() {
  const ns = process.env.BENCH_NS;
  const quiet = { LOG_LEVEL: 'warn', DROVER_NAMESPACE: ns, OPS_PORT: '0' };
  const { startDeviceRegistry } = req(join(root, 'services/device-registry/dist/app.js'));
  const { startMqttIngress, loadIngressConfig } = req(dist('mqtt-ingress'));
  const { startCommandGateway } = req(dist('command-gateway'));
  const registry = await startDeviceRegistry(
    { ...SERVERS, ...quiet, DB_SCHEMA: `${ns}_reg` },
    { ensureStreams: true },
  );
  const ingress = await startMqttIngress(
    loadIngressConfig({
      ...SERVERS,
      ...quiet,
      MQTT_URL,
      MQTT_TOPIC_PREFIX: ns,
      MQTT_CLIENT_ID: `${ns}-ingress`,
      ENSURE_STREAMS: 'false',
    }),
    { opsServer: false },
  );
  const gateway = await startCommandGateway({
    ...SERVERS,
    ...quiet,
    DB_SCHEMA: `${ns}_cmd`,
    OUTBOX_POLL_MS: 50,
  });
  // The services' event loop utilization, sampled for the parent's summary (a loop near 1 is
  // CPU-bound: the round trip then measures queueing, not the path).
  let elu = performance.eventLoopUtilization();
  const eluSamples = [];
  setInterval(() => {
    const now = performance.eventLoopUtilization();
    eluSamples.push(performance.eventLoopUtilization(now, elu).utilization);
    elu = now;
    if (process.env.BENCH_DEBUG) console.error(`services elu=${eluSamples.at(-1).toFixed(2)}`);
  }, 1000).unref();
  process.send({ ready: true, ingressClients: ingress.clientIds });
  process.on('disconnect', () => process.exit(1));
  process.on('message', async (m) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      const busy = eluSamples.length === 0 ? 0 : Math.max(...eluSamples.slice(-5));
      process.send({ cpuUs: u.user + u.system, elu: busy });
      return;
    }
    if (m !== 'stop') return;
    await gateway.stop();
    await ingress.stop();
    await registry.stop();
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

function askCpu(child) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m.cpuUs === undefined) return;
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    child.send('cpu');
  });
}

async function run(ns, nc, deviceIds, telemetryRate, child) {
  const cpu0 = await askCpu(child);
  const started = new Map();
  const rtts = [];
  let failed = 0;
  let errors = 0;
  const sub = nc.subscribe(`${ns}.iot.evt.${TENANT}.command.>`);
  (async () => {
    for await (const m of sub) {
      const e = jc.decode(m.data);
      const t0 = started.get(e.data.command_id);
      if (
        t0 === undefined ||
        !['succeeded', 'failed', 'rejected', 'timed_out', 'dead_lettered', 'expired'].includes(
          e.data.status,
        )
      )
        continue;
      started.delete(e.data.command_id);
      if (e.data.status === 'succeeded') rtts.push(now() - t0);
      else failed++;
    }
  })();
  let telemetry = null;
  if (telemetryRate > 0) {
    const pubs = await Promise.all(
      [0, 1, 2, 3].map((i) => mqtt.connectAsync(MQTT_URL, { clientId: `${ns}-tel-${i}` })),
    );
    let k = 0;
    telemetry = {
      pubs,
      timer: setInterval(() => {
        for (let j = 0; j < telemetryRate / 100; j++) {
          const id = deviceIds[k++ % deviceIds.length];
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
      }, 10),
    };
  }
  const total = RATE * SECONDS;
  const t0 = now();
  const inflight = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const body = {
      tenant: TENANT,
      device_id: deviceIds[i % deviceIds.length],
      name: 'bench',
      timeout_s: 30,
    };
    const start = now();
    inflight.push(
      nc
        .request(`${ns}.iot.rpc.command-gateway.create_command`, jc.encode(body), {
          timeout: 10000,
        })
        .then((m) => {
          const r = jc.decode(m.data);
          if (r.error) throw new Error(r.error.error_code);
          started.set(r.result.command.command_id, start);
        })
        .catch(() => errors++),
    );
  }
  // The rate the generator held (open loop: sends do not wait for answers).
  const offered = total / ((now() - t0) / 1000);
  await Promise.all(inflight);
  const deadline = now() + 35_000;
  while (started.size > 0 && now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (telemetry) {
    clearInterval(telemetry.timer);
    await Promise.all(telemetry.pubs.map((p) => p.endAsync()));
  }
  sub.unsubscribe();
  const lost = started.size;
  const cpu1 = await askCpu(child);
  return {
    // CPU of the services process (registry, ingress, gateway) per command, all of it.
    cpuMsPerCommand: (cpu1.cpuUs - cpu0.cpuUs) / 1000 / total,
    q: quantiles(rtts),
    failedRatio: (failed + lost + errors) / total,
    errors,
    lost,
    achieved: offered,
  };
}

async function main() {
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const child = fork(fileURLToPath(import.meta.url), ['--services'], {
    env: { ...process.env, BENCH_NS: ns },
  });
  const ready = await new Promise((r) => child.on('message', (m) => m.ready && r(m)));
  console.error('services ready');
  const nc = await natsConnect({ servers: SERVERS.NATS_URL });
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
  const devices = [];
  for (let i = 0; i < deviceIds.length; i += 100) {
    devices.push(
      ...(await Promise.all(deviceIds.slice(i, i + 100).map((id) => connectDevice(ns, id)))),
    );
  }
  await new Promise((r) => setTimeout(r, 3000)); // presence reaches the gateway
  console.log(`devices=${DEVICES} rate=${RATE}/s seconds=${SECONDS}`);
  console.log(
    `floor (bare MQTT QoS 1 round trip): ${fmt(await floor(ns, Math.min(RATE * 10, 10000)))}`,
  );
  const idle = await run(ns, nc, deviceIds, 0, child);
  console.log(
    `idle:      ${fmt(idle.q)} failed=${(idle.failedRatio * 100).toFixed(3)} % achieved=${idle.achieved.toFixed(0)}/s services_cpu=${idle.cpuMsPerCommand.toFixed(2)} ms/command`,
  );
  if (TELEMETRY_RATE > 0) {
    const busy = await run(ns, nc, deviceIds, TELEMETRY_RATE, child);
    console.log(
      `telemetry ${TELEMETRY_RATE}/s: ${fmt(busy.q)} failed=${(busy.failedRatio * 100).toFixed(3)} % achieved=${busy.achieved.toFixed(0)}/s services_cpu=${busy.cpuMsPerCommand.toFixed(2)} ms/command`,
    );
  }
  // Clean up: devices, retained status, services, schemas, streams.
  const cleaner = await mqtt.connectAsync(MQTT_URL, { clientId: `${ns}-cleaner` });
  for (const id of deviceIds)
    cleaner.publish(`${ns}/${TENANT}/sensor/${id}/status`, '', { qos: 1, retain: true });
  await Promise.all(devices.map((d) => d.endAsync(true)));
  await cleaner.endAsync();
  child.send('stop');
  await new Promise((r) => child.on('exit', r));
  for (const id of ready.ingressClients)
    await (await mqtt.connectAsync(MQTT_URL, { clientId: id, clean: true })).endAsync();
  const pg = req('pg');
  const client = new pg.Client({ connectionString: SERVERS.DATABASE_URL });
  await client.connect();
  for (const s of [`${ns}_reg`, `${ns}_cmd`])
    await client.query(`drop schema if exists "${s}" cascade`);
  await client.end();
  const jsm = await nc.jetstreamManager();
  for await (const name of jsm.streams.names())
    if (name.startsWith(`${ns.toUpperCase()}_`)) await jsm.streams.delete(name);
  await nc.close();
}

// Last: the helpers above must be initialized before either role runs.
if (process.argv.includes('--services')) await services();
else await main();
