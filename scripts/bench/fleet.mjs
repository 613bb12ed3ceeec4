#!/usr/bin/env node
// pnpm bench:fleet — the simulated fleet over mTLS with the platform behind it (issue 6):
//   - BENCH_SHARDS private mTLS Mosquittos (the broker of `npm start`: @drover/pki's
//     prepareSecureBroker, fleet and platform listeners on free ports, a throw-away PKI), the
//     devices sharded over them by device number;
//   - the platform in its own processes (the supervisor of `npm start`): device-registry,
//     telemetry-ingest, command-gateway, ota-orchestrator and one mqtt-ingress per broker (the
//     ingress reads one broker), on the shared NATS/Postgres/Redis in a throw-away namespace
//     and schemas;
//   - one device-simulator process per shard (worker threads inside), its devices registered in
//     bulk and holding fleet certificates pre-issued in bulk from the fleet CA (SIM_IDENTITY_FILE:
//     no provisioning round trip per device).
// Measured: time until every device is online, resident memory per connected device (simulators
// and brokers, above their idle size), then BENCH_SECONDS of telemetry every BENCH_INTERVAL_S per
// device with a stream of BENCH_COMMAND_RATE `ping` commands/s through the command gateway's
// create_command RPC (round trip to the `command.succeeded` event) and a staged firmware rollout
// to every device (signed with the development firmware key, short soaks): CPU of every process
// (/proc/<pid>/stat), the telemetry-ingest's own device-timestamp-to-committed-row histogram
// (ingest lag), the rollout's progress, the load average.
//
// With more than one shard, commands reach every broker through Mosquitto bridges: the ingress
// forwards commands to its own broker only (one COMMANDS consumer shared by all ingresses), so
// only the first ingress forwards them and brokers 2… bridge `+/+/+/cmd` in from broker 1.
//
// Knobs (environment): BENCH_DEVICES (10000), BENCH_SHARDS (auto: one per BENCH_PER_SHARD =
// 17000 devices), BENCH_SECONDS (180), BENCH_INTERVAL_S (10), BENCH_WAVE (50, devices
// connected at a time per thread), BENCH_WORKERS (-1 = simulator default), BENCH_COMMAND_RATE
// (20), BENCH_ROLLOUT (1; 0 = none), BENCH_STAGES (1,10,50,100), BENCH_SOAK_MIN (0.25),
// BENCH_ROLLOUT_RATE (200 devices/s), BENCH_IMAGE_KIB (64), BENCH_CONNECT_TIMEOUT_S (600),
// BENCH_CONNECT_ATTEMPT_S (30, one device's connect timeout),
// BENCH_TIMEOUT_S (1800, the whole run), LOG_LEVEL (warn), NATS_URL, DATABASE_URL, REDIS_URL,
// MOSQUITTO_BIN. Needs the build (`pnpm exec turbo run build`). Hold the benchmark lock above
// 1,000 devices: `flock /tmp/drover/bench.lock pnpm bench:fleet`.
import { spawn } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureFirmwareDevKey } from '../lib/dev-keys.mjs';
import { waitForOk } from '../lib/readiness.mjs';
import { ingressTlsEnv, MOSQUITTO_BIN } from '../lib/secure-broker.mjs';
import { DEFAULT_URLS } from '../lib/servers.mjs';
import { discoverServices, serviceEnv } from '../lib/services.mjs';
import { setupStreams } from '../lib/streams.mjs';
import { createSupervisor } from '../lib/supervisor.mjs';
import {
  bucketDelta,
  cpuSeconds,
  histogramBuckets,
  histogramQuantile,
  metricByLabel,
  metricSum,
  openFiles,
  rssBytes,
  scrape,
} from './lib/proc-stats.mjs';
import { freePort, waitPort } from './lib/proc.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const req = createRequire(path.join(root, 'services/ota-orchestrator/package.json'));
const reqSim = createRequire(path.join(root, 'services/device-simulator/package.json'));
const reqReg = createRequire(path.join(root, 'services/device-registry/package.json'));
const num = (k, d) => Number(process.env[k] ?? d);
const DEVICES = num('BENCH_DEVICES', 10_000);
const PER_SHARD = num('BENCH_PER_SHARD', 17_000);
const SHARDS = num('BENCH_SHARDS', Math.ceil(DEVICES / PER_SHARD));
const SECONDS = num('BENCH_SECONDS', 180);
const INTERVAL_S = num('BENCH_INTERVAL_S', 10);
const WAVE = num('BENCH_WAVE', 50);
const WORKERS = num('BENCH_WORKERS', -1);
const COMMAND_RATE = num('BENCH_COMMAND_RATE', 20);
const ROLLOUT = num('BENCH_ROLLOUT', 1) > 0;
const STAGES = (process.env.BENCH_STAGES ?? '1,10,50,100').split(',').map(Number);
const SOAK_MIN = num('BENCH_SOAK_MIN', 0.25);
const ROLLOUT_RATE = num('BENCH_ROLLOUT_RATE', 200);
const IMAGE_KIB = num('BENCH_IMAGE_KIB', 64);
const CONNECT_TIMEOUT_S = num('BENCH_CONNECT_TIMEOUT_S', 600);
// One device's connection attempt (the simulator's SIM_CONNECT_TIMEOUT_MS).
const CONNECT_ATTEMPT_S = num('BENCH_CONNECT_ATTEMPT_S', 30);
const TIMEOUT_S = num('BENCH_TIMEOUT_S', 1800);
const LOG_LEVEL = process.env.LOG_LEVEL ?? 'warn';
const MOSQUITTO = process.env.MOSQUITTO_BIN ?? MOSQUITTO_BIN;
const URLS = Object.fromEntries(
  Object.entries(DEFAULT_URLS).map(([k, d]) => [k, process.env[k] || d]),
);
const TENANT = 'acme';
const TYPE = 'sensor';
const FROM = '1.0.0';
const TO = '2.0.0';
const PLATFORM = ['device-registry', 'telemetry-ingest', 'command-gateway', 'ota-orchestrator'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const mb = (b) => `${(b / 1024 / 1024).toFixed(0)} MB`;
const fix = (x, d = 1) => (Number.isFinite(x) ? Number(x.toFixed(d)) : null);
const stamp = () => new Date().toISOString().slice(11, 19);
const note = (msg) => console.error(`[${stamp()}] ${msg}`);
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const quantile = (sorted, q) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

for (const svc of [...PLATFORM, 'mqtt-ingress', 'device-simulator']) {
  if (!existsSync(path.join(root, 'services', svc, 'dist/main.js'))) {
    console.error(`services/${svc} is not built: run pnpm exec turbo run build first`);
    process.exit(1);
  }
}
if (!existsSync(MOSQUITTO)) {
  console.error(`${MOSQUITTO} not found (MOSQUITTO_BIN)`);
  process.exit(1);
}

/** The devices of shard k: contiguous ranges of the fleet plan. */
function shardRange(k) {
  const per = Math.ceil(DEVICES / SHARDS);
  return { from: k * per, to: Math.min(DEVICES, (k + 1) * per) };
}

// ------------------------------------------------------------------ state and clean-up

const ns = `bfleet_${randomBytes(3).toString('hex')}`;
const dir = await mkdtemp(path.join(os.tmpdir(), 'drover-bench-fleet-'));
const failures = [];
const fail = (what) => {
  failures.push({ at: stamp(), what });
  note(`FAILURE: ${what}`);
};
const brokers = []; // { proc, broker, k }
const simulators = []; // { proc, k, opsPort, logTail }
let supervisor = null;
let nc = null;
let pg = null;
let bucket = null;
let cleaning = null;

async function stopProcess(proc, timeoutMs = 20_000) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await Promise.race([exited, sleep(timeoutMs)]);
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGKILL');
    await Promise.race([exited, sleep(5000)]);
  }
}

function cleanup() {
  cleaning ??= (async () => {
    note('cleaning up');
    const step = async (label, fn) => {
      try {
        await fn();
      } catch (err) {
        console.error(`clean-up ${label}: ${err.message}`);
      }
    };
    await step('simulators', () => Promise.all(simulators.map((s) => stopProcess(s.proc))));
    await step('services', () => supervisor?.stop(20_000));
    await step('brokers', () => Promise.all(brokers.map((b) => stopProcess(b.proc, 5000))));
    await step('schemas', async () => {
      await pg?.end().catch((err) => void err); // a fresh client below: this one may be broken
      const client = new (req('pg').Client)({ connectionString: URLS.DATABASE_URL });
      await client.connect();
      for (const s of ['reg', 'tel', 'cmd', 'ota']) {
        await client.query(`drop schema if exists "${ns}_${s}" cascade`);
      }
      await client.end();
    });
    await step('streams', async () => {
      await nc?.close().catch((err) => void err); // a fresh connection below
      nc = await req('nats').connect({ servers: URLS.NATS_URL });
      const jsm = await nc.jetstreamManager();
      const prefix = `${ns.toUpperCase()}_`;
      for await (const name of jsm.streams.names()) {
        if (name.includes(prefix) || (bucket && name === `OBJ_${bucket}`)) {
          await jsm.streams.delete(name);
        }
      }
      await nc.close();
    });
    await step('redis', async () => {
      const Redis = reqReg('ioredis');
      const redis = new Redis(URLS.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1000);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
      await redis.quit();
    });
    if (process.env.BENCH_KEEP_DIR) note(`kept ${dir}`);
    else await step('files', () => rm(dir, { recursive: true, force: true }));
  })();
  return cleaning;
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
process.on('SIGTERM', () => void cleanup().then(() => process.exit(143)));
const watchdog = setTimeout(() => {
  fail(`the whole run passed BENCH_TIMEOUT_S=${TIMEOUT_S} s`);
  void cleanup().then(() => process.exit(2));
}, TIMEOUT_S * 1000);
watchdog.unref();

// ------------------------------------------------------------------ the run

const result = {
  devices: DEVICES,
  shards: SHARDS,
  interval_s: INTERVAL_S,
  cores: os.availableParallelism(),
  load_start: fix(os.loadavg()[0]),
};
const loads = [];
const loadTimer = setInterval(() => loads.push(os.loadavg()[0]), 5000);
loadTimer.unref();

try {
  note(
    `bench:fleet ${DEVICES} devices over mTLS on ${SHARDS} broker(s), namespace ${ns}, ` +
      `${result.cores} cores, load average ${result.load_start}`,
  );
  const pki = reqSim('@drover/pki');
  const simPlan = reqSim('./dist/domain/fleet-plan.js');
  const store = new pki.FileSecretStore(path.join(dir, 'pki'));

  // 1. Brokers: the mTLS broker of npm start, one per shard, on free ports.
  for (let k = 0; k < SHARDS; k++) {
    const broker = await pki.prepareSecureBroker({
      dir: path.join(dir, `broker-${k}`),
      store,
      fleetPort: await freePort(),
      provisioningPort: await freePort(),
      platformPort: await freePort(),
    });
    brokers.push({ k, broker });
  }
  const hub = brokers[0].broker;
  for (const b of brokers) {
    const extra = ['', '# bench:fleet', 'max_connections -1'];
    if (b.k > 0) {
      // Commands are forwarded to broker 0 only (see the header): bridge them in from there.
      extra.push(
        `connection bench-cmd-${b.k}`,
        `address 127.0.0.1:${hub.ports.platform}`,
        `topic +/+/+/cmd in 1`,
        `remote_clientid bench-bridge-${b.k}`,
        'cleansession true',
        'try_private false',
        `bridge_cafile ${hub.files.caFile}`,
        `bridge_certfile ${hub.files.ingressCertFile}`,
        `bridge_keyfile ${hub.files.ingressKeyFile}`,
      );
    }
    await appendFile(b.broker.configPath, `${extra.join('\n')}\n`);
    const log = createWriteStream(path.join(dir, `mosquitto-${b.k}.log`));
    b.proc = spawn(MOSQUITTO, ['-c', b.broker.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    b.proc.stdout.pipe(log);
    b.proc.stderr.pipe(log);
    b.proc.on('exit', (code, signal) => {
      if (!cleaning) fail(`broker ${b.k} exited (${signal ?? code})`);
    });
  }
  for (const b of brokers) await waitPort(b.broker.ports.fleet);
  note(`brokers up: fleet ports ${brokers.map((b) => b.broker.ports.fleet).join(', ')}`);

  // 2. Streams, then the platform under the supervisor of npm start.
  const streams = await setupStreams(root, { ...process.env, ...URLS, DROVER_NAMESPACE: ns });
  if (!streams.ok) throw new Error(`setting up the streams failed: ${streams.output}`);
  const firmwareKey = ensureFirmwareDevKey(root);
  const fwHttpPort = await freePort();
  const { services } = discoverServices(root);
  const byName = new Map(services.map((s) => [s.name, s]));
  const specs = [];
  const opsPorts = new Map();
  const base = { ...process.env, LOG_LEVEL, DROVER_NAMESPACE: ns, DB_POOL_MAX: '5' };
  const add = async (name, svc, extra) => {
    const opsPort = await freePort();
    opsPorts.set(name, opsPort);
    specs.push({
      name,
      main: svc.main,
      cwd: root,
      env: { ...serviceEnv({ ...svc, opsPort }, { env: base, urls: URLS, apiPort: 0 }), ...extra },
    });
  };
  await add('device-registry', byName.get('device-registry'), { DB_SCHEMA: `${ns}_reg` });
  await add('telemetry-ingest', byName.get('telemetry-ingest'), { DB_SCHEMA: `${ns}_tel` });
  await add('command-gateway', byName.get('command-gateway'), { DB_SCHEMA: `${ns}_cmd` });
  await add('ota-orchestrator', byName.get('ota-orchestrator'), {
    DB_SCHEMA: `${ns}_ota`,
    FIRMWARE_TRUSTED_KEYS: firmwareKey.paths.trustedKeys,
    FIRMWARE_URL_SECRET: randomBytes(32).toString('hex'),
    FIRMWARE_ARTIFACT_DIR: path.join(dir, 'artifacts'),
    FIRMWARE_HTTP_PORT: String(fwHttpPort),
    FIRMWARE_PUBLIC_URL: `http://127.0.0.1:${fwHttpPort}`,
  });
  for (const b of brokers) {
    await add(`mqtt-ingress-${b.k}`, byName.get('mqtt-ingress'), {
      ...ingressTlsEnv(b.broker),
      MQTT_CLIENT_ID: `bench-ingress-${b.k}`,
      COMMANDS_ENABLED: b.k === 0 ? 'true' : 'false',
    });
  }
  const serviceLogs = new Map();
  const echoed = new Map();
  supervisor = createSupervisor(specs, {
    onLine: (name, line) => {
      if (!serviceLogs.has(name)) {
        serviceLogs.set(name, createWriteStream(path.join(dir, `${name}.log`)));
      }
      serviceLogs.get(name).write(`${line}\n`);
      // Errors and warnings on the console too (the first 10 per service).
      if (/"level":\s*"?(error|fatal|40|50|60)/.test(line) && (echoed.get(name) ?? 0) < 10) {
        echoed.set(name, (echoed.get(name) ?? 0) + 1);
        console.error(`  ${name}: ${line.slice(0, 300)}`);
      }
    },
    report: (msg) => fail(`supervisor: ${msg}`),
    maxRestarts: 2,
  });
  supervisor.start();
  for (const [name, port] of opsPorts) {
    if (!(await waitForOk(`http://127.0.0.1:${port}/readyz`, { timeoutMs: 90_000 }))) {
      throw new Error(`${name} not ready within 90 s (log: ${dir}/${name}.log)`);
    }
  }
  const pids = () => new Map(supervisor.status().map((s) => [s.name, s.pid]));
  note(`platform ready: ${[...opsPorts.keys()].join(', ')}`);

  // 3. The devices: registered in bulk, fleet certificates issued in bulk.
  nc = await req('nats').connect({ servers: URLS.NATS_URL, name: 'bench-fleet' });
  const jc = req('nats').JSONCodec();
  const rpc = async (service, op, body, timeout = 60_000) => {
    const m = await nc.request(`${ns}.iot.rpc.${service}.${op}`, jc.encode(body), { timeout });
    const r = jc.decode(m.data);
    if (r?.error) throw new Error(`${service}.${op}: ${r.error.error_code}: ${r.error.detail}`);
    return r.result;
  };
  pg = new (req('pg').Client)({ connectionString: URLS.DATABASE_URL });
  await pg.connect();
  const plan = simPlan.planFleet({ tenant: TENANT, size: DEVICES, seed: 1 });
  let t = now();
  const [first, ...rest] = plan;
  await rpc('device-registry', 'create_device', {
    tenant: TENANT,
    device_id: first.deviceId,
    device_type: TYPE,
    hardware_id: first.hardwareId,
    hardware_model: first.hardwareModel,
  });
  for (let i = 0; i < rest.length; i += 20_000) {
    const part = rest.slice(i, i + 20_000);
    await pg.query(
      `insert into "${ns}_reg".devices
         (tenant, device_id, device_type, hardware_id, hardware_model, firmware_version,
          connectivity, last_seen)
       select $1, d.id, $2, d.hw, d.model, $3, 'offline', now()
         from unnest($4::text[], $5::text[], $6::text[]) as d(id, hw, model)`,
      [
        TENANT,
        TYPE,
        FROM,
        part.map((d) => d.deviceId),
        part.map((d) => d.hardwareId),
        part.map((d) => d.hardwareModel),
      ],
    );
  }
  await pg.query(`update "${ns}_reg".devices set firmware_version = $1 where device_id = $2`, [
    FROM,
    first.deviceId,
  ]);
  result.register_s = fix((now() - t) / 1000, 2);
  t = now();
  const fleetPki = (await pki.loadOrCreatePki(store)).fleet;
  for (let k = 0; k < SHARDS; k++) {
    const { from, to } = shardRange(k);
    const ids = {};
    for (let i = from; i < to; i += 200) {
      const batch = plan.slice(i, Math.min(to, i + 200));
      const issued = await Promise.all(
        batch.map((d) =>
          pki.issueWithServerKey(fleetPki, { commonName: d.deviceId, validityDays: 2 }),
        ),
      );
      batch.forEach((d, j) => {
        ids[d.deviceId] = { cert: issued[j].certificatePem, key: issued[j].privateKeyPem };
      });
    }
    await writeFile(path.join(dir, `identities-${k}.json`), JSON.stringify(ids), { mode: 0o600 });
  }
  result.certificates_s = fix((now() - t) / 1000, 1);
  note(
    `${DEVICES} devices registered in ${result.register_s} s (bulk), fleet certificates issued ` +
      `in ${result.certificates_s} s`,
  );

  // 4. The simulators, one per shard; connect time until every device is online.
  const brokerIdle = await Promise.all(brokers.map((b) => rssBytes(b.proc.pid)));
  // The size of an idle simulator process (no device): what "per device" is measured above.
  const idleSim = await startSimulator({ k: -1, from: 0, to: 0 });
  await waitForOk(`http://127.0.0.1:${idleSim.opsPort}/readyz`, { timeoutMs: 30_000 });
  await sleep(1000);
  const simIdleRss = await rssBytes(idleSim.proc.pid);
  await stopProcess(idleSim.proc);
  simulators.length = 0;

  async function startSimulator({ k, from, to }) {
    const opsPort = await freePort();
    const b = brokers[Math.max(0, k)];
    const env = {
      ...process.env,
      ...URLS,
      LOG_LEVEL,
      OPS_PORT: String(opsPort),
      DROVER_NAMESPACE: ns,
      SIM_REGISTER: 'false',
      FLEET_SIZE: String(to - from),
      SIM_FLEET_OFFSET: String(from),
      SIM_TENANT: TENANT,
      SIM_DEVICE_TYPE: TYPE,
      SIM_FIRMWARE_VERSION: FROM,
      SIM_TELEMETRY_INTERVAL_S: String(INTERVAL_S),
      SIM_WAVE_SIZE: String(WAVE),
      SIM_CONNECT_TIMEOUT_MS: String(CONNECT_ATTEMPT_S * 1000),
      SIM_WORKERS: String(WORKERS),
      SIM_IDENTITY_FILE: path.join(dir, k < 0 ? 'identities-idle.json' : `identities-${k}.json`),
      SIM_FLEET_MQTT_URL: `mqtts://127.0.0.1:${b.broker.ports.fleet}`,
      SIM_BROKER_CA_FILE: b.broker.files.caFile,
      SIM_FIRMWARE_SIGNING_KEY: firmwareKey.publicPem,
    };
    if (k < 0) await writeFile(env.SIM_IDENTITY_FILE, '{}');
    const proc = spawn(
      process.execPath,
      [path.join(root, 'services/device-simulator/dist/main.js')],
      {
        cwd: root,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const sim = { proc, k, opsPort, tail: [] };
    const log = createWriteStream(path.join(dir, `simulator-${k}.log`));
    const keep = (d) => {
      log.write(d);
      sim.tail.push(...d.toString().split('\n').filter(Boolean));
      sim.tail.splice(0, Math.max(0, sim.tail.length - 20));
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    proc.on('exit', (code, signal) => {
      if (!cleaning && k >= 0) {
        fail(`simulator ${k} exited (${signal ?? code}): ${sim.tail.slice(-3).join(' | ')}`);
      }
    });
    simulators.push(sim);
    return sim;
  }

  // Devices online per simulator (its own gauge); NaN when its ops server does not answer.
  const online = async () => {
    const pages = await Promise.all(simulators.map((s) => scrape(s.opsPort, 10_000)));
    return pages.map((p) => (p === '' ? NaN : metricSum(p, 'drover_sim_devices_connected')));
  };
  const brokerCpu0 = await Promise.all(brokers.map((b) => cpuSeconds(b.proc.pid)));
  const platformCpu0 = await Promise.all([...pids().values()].map((pid) => cpuSeconds(pid)));
  const t0 = now();
  for (let k = 0; k < SHARDS; k++) await startSimulator({ k, ...shardRange(k) });
  let lastReport = 0;
  let counts = [];
  const progress = [];
  for (;;) {
    await sleep(1000);
    // A simulator too busy to answer keeps its last count.
    counts = (await online()).map((n, i) => (Number.isNaN(n) ? (counts[i] ?? 0) : n));
    const elapsed = (now() - t0) / 1000;
    if (sum(counts) >= DEVICES) break;
    if (elapsed - lastReport >= 15) {
      lastReport = elapsed;
      const bRss = await Promise.all(brokers.map((b) => rssBytes(b.proc.pid)));
      const sFds = await Promise.all(simulators.map((s) => openFiles(s.proc.pid)));
      const line =
        `${elapsed.toFixed(0)} s: online ${counts.join(' + ')} = ${sum(counts)}, ` +
        `broker rss ${bRss.map(mb).join(', ')}, simulator fds ${sFds.join(', ')}, ` +
        `load ${os.loadavg()[0].toFixed(1)}`;
      progress.push(line);
      note(line);
    }
    if (elapsed > CONNECT_TIMEOUT_S) {
      fail(`only ${sum(counts)} of ${DEVICES} devices online after ${CONNECT_TIMEOUT_S} s`);
      break;
    }
    if (simulators.every((s) => s.proc.exitCode !== null || s.proc.signalCode !== null)) {
      fail('every simulator exited');
      break;
    }
  }
  const connectS = (now() - t0) / 1000;
  const connected = sum(counts);
  // CPU seconds the connecting cost (simulators from their start, as they had no other work).
  const connectCpu = {
    simulators: sum(await Promise.all(simulators.map((s) => cpuSeconds(s.proc.pid)))),
    brokers: sum(await Promise.all(brokers.map((b) => cpuSeconds(b.proc.pid)))) - sum(brokerCpu0),
    platform:
      sum(await Promise.all([...pids().values()].map((pid) => cpuSeconds(pid)))) -
      sum(platformCpu0),
  };
  result.connect_cpu_s = Object.fromEntries(
    Object.entries(connectCpu).map(([k, v]) => [k, fix(v, 1)]),
  );
  // What the brokers saw: sessions opened, and connections that went away before their
  // CONNECT (the device's 10 s connect timeout fired during the TLS handshake, then back-off).
  const brokerLog = brokers
    .map((b) => readFileSync(path.join(dir, `mosquitto-${b.k}.log`), 'utf8'))
    .join('\n');
  result.broker_sessions = (brokerLog.match(/New client connected/g) ?? []).length;
  result.handshakes_abandoned = (brokerLog.match(/Client <unknown> disconnected/g) ?? []).length;
  result.connect_s = fix(connectS);
  result.connected = connected;
  result.connections_per_s = fix(connected / connectS, 0);
  note(`${connected}/${DEVICES} devices online in ${result.connect_s} s (load ${loads.at(-1)})`);

  await sleep(3000);
  const simRss = await Promise.all(simulators.map((s) => rssBytes(s.proc.pid)));
  const brokerRss = await Promise.all(brokers.map((b) => rssBytes(b.proc.pid)));
  const simAbove = sum(simRss) - simulators.length * simIdleRss;
  result.simulator_rss_mb = fix(sum(simRss) / 2 ** 20, 0);
  result.simulator_idle_rss_mb = fix(simIdleRss / 2 ** 20, 0);
  result.simulator_kb_per_device = fix(simAbove / connected / 1024);
  result.broker_rss_mb = fix(sum(brokerRss) / 2 ** 20, 0);
  result.broker_kb_per_device = fix((sum(brokerRss) - sum(brokerIdle)) / connected / 1024);
  if (connected === 0) throw new Error('no device came online');

  // 5. The sustained phase: settle one interval, then telemetry + commands + the rollout.
  await sleep(INTERVAL_S * 1000);
  const ingestPort = opsPorts.get('telemetry-ingest');
  const ingest0 = await scrape(ingestPort);
  const lag0 = histogramBuckets(ingest0, 'drover_telemetry_device_latency_seconds');
  const rows0 = metricSum(ingest0, 'drover_telemetry_rows_inserted_total');
  const procs = () => [
    ...[...pids()].map(([name, pid]) => ({ name, pid, group: 'platform' })),
    ...brokers.map((b) => ({ name: `mosquitto-${b.k}`, pid: b.proc.pid, group: 'broker' })),
    ...simulators.map((s) => ({ name: `simulator-${s.k}`, pid: s.proc.pid, group: 'sim' })),
  ];
  // Where telemetry goes: sent by the simulators, received / published / rejected by the
  // ingresses (their own counters, deltas over the sustained phase).
  const ingressPorts = brokers.map((b) => opsPorts.get(`mqtt-ingress-${b.k}`));
  const flow = async () => {
    const sims = await Promise.all(simulators.map((s) => scrape(s.opsPort, 10_000)));
    const ings = await Promise.all(ingressPorts.map((p) => scrape(p, 10_000)));
    const add = (pages, name, label) => {
      const out = {};
      for (const page of pages) {
        for (const [k, v] of Object.entries(metricByLabel(page, name, label))) {
          out[k] = (out[k] ?? 0) + v;
        }
      }
      return out;
    };
    return {
      sent: add(sims, 'drover_sim_messages_sent_total', 'channel'),
      received: add(ings, 'drover_ingress_messages_received_total', 'channel'),
      published: add(ings, 'drover_ingress_messages_published_total', 'kind'),
      rejected: add(ings, 'drover_ingress_messages_rejected_total', 'reason'),
    };
  };
  const flow0 = await flow();
  const cpu0 = new Map();
  for (const p of procs()) cpu0.set(p.name, await cpuSeconds(p.pid));
  const tStart = now();

  // Commands: create_command RPC, round trip to command.succeeded.
  const started = new Map();
  const rtts = [];
  const outcomes = {};
  let cmdErrors = 0;
  const evSub = nc.subscribe(`${ns}.iot.evt.${TENANT}.command.>`);
  void (async () => {
    for await (const m of evSub) {
      const e = jc.decode(m.data);
      const at = started.get(e.data?.command_id);
      if (at === undefined) continue;
      const final = [
        'succeeded',
        'failed',
        'rejected',
        'timed_out',
        'dead_lettered',
        'expired',
        'cancelled',
      ];
      if (!final.includes(e.data.status)) continue;
      started.delete(e.data.command_id);
      outcomes[e.data.status] = (outcomes[e.data.status] ?? 0) + 1;
      if (e.data.status === 'succeeded') rtts.push(now() - at);
    }
  })();
  let sent = 0;
  const commands = setInterval(() => {
    const d = plan[(sent * 7919) % DEVICES];
    sent += 1;
    const at = now();
    nc.request(
      `${ns}.iot.rpc.command-gateway.create_command`,
      jc.encode({ tenant: TENANT, device_id: d.deviceId, name: 'ping', timeout_s: 60 }),
      { timeout: 15_000 },
    )
      .then((m) => {
        const r = jc.decode(m.data);
        if (r.error) throw new Error(r.error.error_code);
        started.set(r.result.command.command_id, at);
      })
      .catch((err) => {
        cmdErrors += 1;
        if (cmdErrors <= 3) note(`create_command: ${err.message}`);
      });
  }, 1000 / COMMAND_RATE);

  // The rollout: a signed image through the upload bucket and register_firmware, deployed to
  // every device of the type in stages with short soaks.
  const rollout = { events: [] };
  let deploySub = null;
  if (ROLLOUT) {
    const image = randomBytes(IMAGE_KIB * 1024);
    const key = createPrivateKey(readFileSync(firmwareKey.paths.privatePem));
    bucket = `${ns.toUpperCase()}_FIRMWARE_UPLOADS`;
    const objects = await nc.jetstream().views.os(bucket, { ttl: req('nats').nanos(3600_000) });
    await objects.putBlob({ name: 'bench-image' }, image);
    await rpc('ota-orchestrator', 'register_firmware', {
      tenant: TENANT,
      version: TO,
      device_type: TYPE,
      hardware_models: [...simPlan.HARDWARE_MODELS],
      sha256: createHash('sha256').update(image).digest('hex'),
      size: image.length,
      signature: sign(null, image, key).toString('base64'),
      signature_alg: 'ed25519',
      key_id: firmwareKey.keyId,
      upload: { bucket, name: 'bench-image' },
    });
    rollout.t0 = now();
    deploySub = nc.subscribe(`${ns}.iot.evt.${TENANT}.deployment.>`);
    void (async () => {
      for await (const m of deploySub) {
        if (m.subject.endsWith('.device_updated')) continue;
        const e = jc.decode(m.data);
        rollout.events.push({ at: (now() - rollout.t0) / 1000, type: e.type, data: e.data });
      }
    })();
    rollout.t0 = now();
    const dep = await rpc('ota-orchestrator', 'create_deployment', {
      tenant: TENANT,
      version: TO,
      device_type: TYPE,
      target: { filter: {} },
      rollout_config: {
        stages: STAGES,
        soak_duration_minutes: SOAK_MIN,
        rate_per_s: ROLLOUT_RATE,
        device_timeout_minutes: 5,
      },
    });
    rollout.id = dep.deployment_id;
    note(`deployment ${rollout.id} of ${TO} created (${dep.status})`);
  }

  // Sustained phase: a progress line every 30 s.
  const deadline = tStart + SECONDS * 1000;
  let deployment = null;
  while (now() < deadline) {
    await sleep(Math.min(30_000, deadline - now()));
    const c = await online();
    if (rollout.id) {
      deployment = await rpc('ota-orchestrator', 'get_deployment', {
        tenant: TENANT,
        deployment_id: rollout.id,
      }).catch((err) => ({ status: `unknown (${err.message})` }));
      if (!rollout.end && ['completed', 'rolled_back', 'aborted'].includes(deployment.status)) {
        rollout.end = (now() - rollout.t0) / 1000;
      }
    }
    note(
      `${((now() - tStart) / 1000).toFixed(0)} s: online ${sum(c)}, commands ${rtts.length}/` +
        `${sent} succeeded` +
        (deployment
          ? `, rollout ${deployment.status} ${deployment.succeeded ?? '?'}/` +
            `${deployment.total_devices ?? '?'} succeeded`
          : '') +
        `, load ${os.loadavg()[0].toFixed(1)}`,
    );
  }
  clearInterval(commands);
  const elapsed = (now() - tStart) / 1000;
  const cpu = {};
  for (const p of procs()) {
    cpu[p.name] = fix(((await cpuSeconds(p.pid)) - (cpu0.get(p.name) ?? NaN)) / elapsed, 3);
  }
  const flow1 = await flow();
  const ingest1 = await scrape(ingestPort);
  const lag = bucketDelta(
    histogramBuckets(ingest1, 'drover_telemetry_device_latency_seconds'),
    lag0,
  );
  const rows = metricSum(ingest1, 'drover_telemetry_rows_inserted_total') - rows0;
  await sleep(5000); // the last command answers
  evSub.unsubscribe();
  deploySub?.unsubscribe();
  const sorted = [...rtts].sort((a, b) => a - b);
  const onlineEnd = sum(await online());

  const rate = (a, b) =>
    Object.fromEntries(
      Object.entries(a)
        .map(([k, v]) => [k, fix((v - (b[k] ?? 0)) / elapsed, 1)])
        .filter(([, v]) => v !== 0),
    );
  result.flow_per_s = Object.fromEntries(
    Object.keys(flow1).map((k) => [k, rate(flow1[k], flow0[k])]),
  );
  result.sustained_s = fix(elapsed, 0);
  result.online_end = onlineEnd;
  result.telemetry_rows_s = fix(rows / elapsed, 0);
  result.telemetry_expected_s = fix(connected / INTERVAL_S, 0);
  result.ingest_pending_end = metricSum(ingest1, 'drover_telemetry_consumer_pending');
  result.ingest_lag_p50_s = fix(histogramQuantile(lag, 0.5), 2);
  result.ingest_lag_p95_s = fix(histogramQuantile(lag, 0.95), 2);
  result.commands_sent = sent;
  result.commands_succeeded = rtts.length;
  result.command_outcomes = outcomes;
  result.command_errors = cmdErrors;
  result.command_p50_ms = fix(quantile(sorted, 0.5), 0);
  result.command_p95_ms = fix(quantile(sorted, 0.95), 0);
  const group = (g) =>
    fix(
      sum(
        procs()
          .filter((p) => p.group === g)
          .map((p) => cpu[p.name] ?? 0),
      ),
      2,
    );
  result.cpu_cores = cpu;
  result.platform_cpu_cores = group('platform');
  result.broker_cpu_cores = group('broker');
  result.simulator_cpu_cores = group('sim');
  if (rollout.id) {
    const stages = rollout.events
      .filter((e) => /stage_(started|completed)/.test(e.type))
      .map((e) => `${e.type.split('.')[2]} ${e.data.stage + 1} @${e.at.toFixed(0)} s`);
    result.rollout = {
      status: deployment?.status,
      succeeded: deployment?.succeeded,
      failed: deployment?.failed,
      total: deployment?.total_devices,
      duration_s: fix(rollout.end ?? NaN, 0),
      stages,
    };
  }
  result.load_peak = fix(Math.max(...loads, os.loadavg()[0]));
  result.load_end = fix(os.loadavg()[0]);
  result.failures = failures;

  console.log(
    [
      `bench:fleet ${DEVICES} devices over mTLS, ${SHARDS} broker(s) / simulator process(es), ` +
        `telemetry every ${INTERVAL_S} s; load average ${result.load_start} → peak ` +
        `${result.load_peak} → ${result.load_end}`,
      `connect: ${connected}/${DEVICES} online in ${result.connect_s} s ` +
        `(${result.connections_per_s}/s; certificates issued beforehand in ` +
        `${result.certificates_s} s, registered in bulk in ${result.register_s} s; ` +
        `${result.handshakes_abandoned} connections abandoned before CONNECT; CPU seconds ` +
        `simulators ${result.connect_cpu_s.simulators}, brokers ${result.connect_cpu_s.brokers}, ` +
        `platform ${result.connect_cpu_s.platform})`,
      `memory: simulators ${result.simulator_rss_mb} MB (${result.simulator_kb_per_device} KB ` +
        `per device above an idle simulator of ${result.simulator_idle_rss_mb} MB), brokers ` +
        `${result.broker_rss_mb} MB (${result.broker_kb_per_device} KB per device)`,
      `sustained ${result.sustained_s} s: online at the end ${onlineEnd}; telemetry rows ` +
        `${result.telemetry_rows_s}/s (expected ${result.telemetry_expected_s}/s), ingest lag ` +
        `(device ts → committed row, telemetry-ingest histogram) p50 ${result.ingest_lag_p50_s} s ` +
        `p95 ${result.ingest_lag_p95_s} s, pending at the end ${result.ingest_pending_end}`,
      `message flow per s: ${JSON.stringify(result.flow_per_s)}`,
      `commands: ${rtts.length}/${sent} succeeded (${JSON.stringify(outcomes)}, ${cmdErrors} ` +
        `create errors), round trip p50 ${result.command_p50_ms} ms, p95 ${result.command_p95_ms} ms`,
      `CPU (cores): platform ${result.platform_cpu_cores} (${Object.entries(cpu)
        .filter(([n]) => !/^(mosquitto|simulator)/.test(n))
        .map(([n, c]) => `${n} ${c}`)
        .join(', ')}), brokers ${result.broker_cpu_cores}, simulators ` +
        `${result.simulator_cpu_cores}`,
      result.rollout
        ? `rollout ${TO} (stages ${STAGES.join(',')}, soak ${SOAK_MIN} min, ${ROLLOUT_RATE}/s): ` +
          `${result.rollout.status}, ${result.rollout.succeeded}/${result.rollout.total} ` +
          `succeeded, ${result.rollout.failed} failed, ` +
          (result.rollout.duration_s !== null
            ? `done in ${result.rollout.duration_s} s`
            : `still running after ${result.sustained_s} s`) +
          `; ${result.rollout.stages.join(', ')}`
        : 'rollout: none (BENCH_ROLLOUT=0)',
      failures.length > 0
        ? `failures: ${failures.map((f) => `${f.at} ${f.what}`).join('; ')}`
        : 'failures: none',
    ].join('\n'),
  );
  console.log(JSON.stringify(result));
  process.exitCode = failures.length > 0 ? 1 : 0;
} catch (err) {
  console.error(`bench:fleet failed: ${err.stack ?? err.message}`);
  if (failures.length > 0) console.error(JSON.stringify({ ...result, failures }));
  process.exitCode = 1;
} finally {
  await cleanup();
}
process.exit();
