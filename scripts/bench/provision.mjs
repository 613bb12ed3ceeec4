#!/usr/bin/env node
// `pnpm bench:provision`: zero-touch provisioning through the real path, over mutual TLS. A
// private Mosquitto with the generated listeners (prepareSecureBroker: fleet, provisioning,
// platform); the provisioning service and the mqtt-ingress (a TLS client of the platform
// listener, its own certificate and the secret share group) in one child process; BENCH_DEVICES
// real mqtt.js devices, BENCH_CONCURRENCY at a time, each: TLS connect with its factory
// bootstrap certificate on the provisioning listener → subscribe `provisioning/<hw>/res` →
// publish a request with its CSR (P-256) → the fleet certificate. Latency is the device's view
// (connect to answer); throughput is devices provisioned per second of wall time. In the same
// run, the ceiling: the certificate work alone (inspectCsr + issueFromInspectedCsr) in one
// process, no network.
// Bootstrap certificates and device keys/CSRs are made before the clock starts (factory work).
// Built code (run `pnpm exec turbo run build` first). Shared NATS and Postgres, a throw-away
// namespace and schema, a temporary directory for the PKI and the broker, all removed at the end.
//
// Two more figures locate the cost: the provisioning service alone (the `provision` RPC over
// NATS, BENCH_RPC_DEVICES other hardware ids) and the MQTT floor (mTLS connect + subscribe +
// disconnect with the bootstrap certificate, no request).
//
// Knobs (environment): BENCH_DEVICES (1000), BENCH_CONCURRENCY (16), BENCH_WORKERS (1: generator
// threads of the MQTT phases, the concurrency split between them), BENCH_RPC_DEVICES
// (BENCH_DEVICES / 4), MOSQUITTO_BIN
// (/usr/sbin/mosquitto), NATS_URL, DATABASE_URL.
import { fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const req = createRequire(join(root, 'services', 'provisioning', 'package.json'));
const ingressReq = createRequire(join(root, 'services', 'mqtt-ingress', 'package.json'));
const mqtt = ingressReq('mqtt');
const { connect: natsConnect, JSONCodec } = req('nats');
const dist = (dir) => join(root, dir, 'dist', 'index.js');

const num = (k, d) => Number(process.env[k] ?? d);
const DEVICES = num('BENCH_DEVICES', 1000);
const CONCURRENCY = num('BENCH_CONCURRENCY', 16);
const RPC_DEVICES = num('BENCH_RPC_DEVICES', Math.ceil(DEVICES / 4));
// Generator threads for the MQTT phases (TLS handshakes are the generator's CPU): 1 = in the
// main thread; N splits the devices and BENCH_CONCURRENCY over N worker threads.
const WORKERS = Math.max(1, num('BENCH_WORKERS', 1));
const MOSQUITTO_BIN = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';
const SERVERS = {
  NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
};
const TENANT = 'bench';
const jc = JSONCodec();

// ---------------------------------------------------------------- child: the services

async function services() {
  const ns = process.env.BENCH_NS;
  const b = JSON.parse(process.env.BENCH_BROKER);
  const quiet = { LOG_LEVEL: 'warn', DROVER_NAMESPACE: ns, OPS_PORT: '0' };
  const { startMqttIngress, loadIngressConfig } = req(dist('services/mqtt-ingress'));
  const { startProvisioning } = req(dist('services/provisioning'));
  // The ingress first: it creates the namespace's streams the provisioning outbox writes to.
  const ingress = await startMqttIngress(
    loadIngressConfig({
      ...SERVERS,
      ...quiet,
      MQTT_URL: `mqtts://127.0.0.1:${b.platformPort}`,
      MQTT_CA_FILE: b.caFile,
      MQTT_CERT_FILE: b.ingressCertFile,
      MQTT_KEY_FILE: b.ingressKeyFile,
      MQTT_SHARE_GROUP: b.shareGroup,
      MQTT_CLIENT_ID: `${ns}-ingress`,
      MQTT_CONNECTIONS: '4',
    }),
    { opsServer: false },
  );
  const provisioning = await startProvisioning({
    ...SERVERS,
    ...quiet,
    DB_SCHEMA: `${ns}_prov`,
    DB_POOL_MAX: 8,
    PKI_SECRET_STORE: 'file',
    PKI_DIR: b.pkiDir,
    CRL_PATH: b.crlFile,
  });
  process.send({ ready: true });
  process.on('disconnect', () => process.exit(1));
  process.on('message', async (m) => {
    if (m !== 'stop') return;
    await provisioning.stop();
    await ingress.stop();
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

// ---------------------------------------------------------------- CPU per process (/proc)

const TICKS_PER_S = 100;

/** CPU seconds (user + system, all threads) of one process from /proc/<pid>/stat; 0 if gone. */
function cpuOfPid(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_S;
  } catch (err) {
    void err; // the process ended: it uses no more CPU
    return 0;
  }
}

/**
 * CPU seconds by pid of every process whose command name is `name` (Postgres backends) and,
 * if given, whose command line has `arg` (the NATS server of NATS_URL, not a test's own).
 */
function cpuOfCommand(name, arg) {
  const byPid = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let s;
    try {
      s = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch (err) {
      void err; // gone meanwhile
      continue;
    }
    if (s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')) !== name) continue;
    if (arg !== undefined && !readCmdline(d).includes(arg)) continue;
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    byPid.set(d, (Number(f[11]) + Number(f[12])) / TICKS_PER_S);
  }
  return byPid;
}

function readCmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch (err) {
    void err; // gone meanwhile
    return [];
  }
}

/** CPU seconds between two readings: a number, or per pid (a process that ended is left out). */
function cpuDelta(before, after) {
  if (typeof before === 'number') return after - before;
  let sum = 0;
  for (const [pid, s] of after) sum += s - (before.get(pid) ?? 0);
  return sum;
}

/**
 * CPU seconds of the run's processes: the generator (this process, all its threads), the
 * services' child, the private Mosquitto, and the shared NATS and Postgres (which also serve
 * whoever else uses them during the phase: an upper bound for this run's share).
 */
function cpuSnapshot(pids) {
  return {
    generator: cpuOfPid(process.pid),
    services: cpuOfPid(pids.services),
    mosquitto: cpuOfPid(pids.mosquitto),
    nats: cpuOfCommand('nats-server', new URL(SERVERS.NATS_URL).port || '4222'),
    postgres: cpuOfCommand('postgres'),
  };
}

/** `name=X ms/device (Y cores)` for each process between two snapshots. */
function cpuLine(before, after, devices, seconds) {
  return Object.keys(before)
    .map((k) => {
      const s = cpuDelta(before[k], after[k]);
      return `${k} ${((s * 1000) / devices).toFixed(1)} ms/device (${(s / seconds).toFixed(2)} cores)`;
    })
    .join(', ');
}

function portAccepts(port) {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function waitPorts(ports, proc, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`mosquitto exited (${proc.exitCode})`);
    const ok = await Promise.all(ports.map(portAccepts));
    if (ok.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error(`mosquitto listeners ${ports} did not open`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs `fn` over `items`, `limit` at a time. */
async function pool(items, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** One device's provisioning: TLS connect, subscribe, request, answer. */
async function provisionDevice(port, ca, device) {
  const client = await mqtt.connectAsync({
    host: '127.0.0.1',
    port,
    protocol: 'mqtts',
    protocolVersion: 4,
    clientId: device.hw,
    cert: device.bootstrap.certificatePem,
    key: device.bootstrap.privateKeyPem,
    ca,
    rejectUnauthorized: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    clean: true,
  });
  try {
    client.stream.setNoDelay?.(true);
    const answer = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer within 30 s')), 30_000);
      client.on('message', (_t, payload) => {
        clearTimeout(timer);
        resolve(JSON.parse(payload.toString()));
      });
    });
    await client.subscribeAsync(`provisioning/${device.hw}/res`, { qos: 1 });
    await client.publishAsync(
      `provisioning/${device.hw}/req`,
      JSON.stringify({
        msg_id: `m-${device.hw}`,
        ts: Date.now(),
        schema_version: 1,
        device_type: 'sensor',
        csr: device.csrPem,
      }),
      { qos: 1 },
    );
    const res = await answer;
    if (res.status !== 'ok') throw new Error(`${res.error?.code}: ${res.error?.detail}`);
    if (!String(res.certificate).includes('BEGIN CERTIFICATE')) throw new Error('no certificate');
    return res;
  } finally {
    await client.endAsync(true);
  }
}

/** The floor's device: mTLS connect + subscribe + disconnect, no request. */
async function floorDevice(port, ca, device) {
  const c = await mqtt.connectAsync({
    host: '127.0.0.1',
    port,
    protocol: 'mqtts',
    clientId: device.hw,
    cert: device.bootstrap.certificatePem,
    key: device.bootstrap.privateKeyPem,
    ca,
    reconnectPeriod: 0,
  });
  try {
    await c.subscribeAsync(`provisioning/${device.hw}/res`, { qos: 1 });
  } finally {
    await c.endAsync(true);
  }
}

/** Plays `devices` (`kind`: floor or full) `concurrency` at a time in this thread. */
async function playHere(kind, port, ca, devices, concurrency) {
  const latencies = [];
  const failures = [];
  const play = kind === 'floor' ? floorDevice : provisionDevice;
  await pool(devices, concurrency, async (d) => {
    const start = now();
    try {
      await play(port, ca, d);
      latencies.push(now() - start);
    } catch (err) {
      failures.push(`${d.hw}: ${err.message}`);
    }
  });
  return { latencies, failures };
}

/** Plays `devices` over WORKERS threads (or here when 1); latencies and failures of all. */
async function playDevices(kind, port, ca, devices) {
  if (WORKERS === 1) return playHere(kind, port, ca, devices, CONCURRENCY);
  const slices = Array.from({ length: WORKERS }, (_, w) =>
    devices.filter((_d, i) => i % WORKERS === w),
  );
  const results = await Promise.all(
    slices.map(
      (slice, w) =>
        new Promise((resolve, reject) => {
          const worker = new Worker(fileURLToPath(import.meta.url), {
            workerData: {
              role: 'generator',
              kind,
              port,
              ca,
              devices: slice,
              concurrency: Math.floor(CONCURRENCY / WORKERS) + (w < CONCURRENCY % WORKERS ? 1 : 0),
            },
          });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
  return {
    latencies: results.flatMap((r) => r.latencies),
    failures: results.flatMap((r) => r.failures),
  };
}

async function main() {
  const pki = req(dist('packages/pki'));
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const tmp = mkdtempSync(join(tmpdir(), 'drover-bench-provision-'));
  const pkiDir = join(tmp, 'pki');
  const freePort = () =>
    new Promise((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
  const broker = await pki.prepareSecureBroker({
    dir: join(tmp, 'broker'),
    store: new pki.FileSecretStore(pkiDir),
    fleetPort: await freePort(),
    provisioningPort: await freePort(),
    platformPort: await freePort(),
  });
  // Its log (one line per connection) only on failure.
  const mosquitto = spawn(MOSQUITTO_BIN, ['-c', broker.configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let brokerLog = '';
  const keepLog = (chunk) => (brokerLog = (brokerLog + chunk.toString()).slice(-8192));
  mosquitto.stdout.on('data', keepLog);
  mosquitto.stderr.on('data', keepLog);
  let child;
  let nc;
  try {
    await waitPorts(Object.values(broker.ports), mosquitto);
    child = fork(fileURLToPath(import.meta.url), ['--services'], {
      // BENCH_CPU_PROF=<dir>: a V8 CPU profile of the services' process, written when it stops.
      execArgv: process.env.BENCH_CPU_PROF
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
        : [],
      env: {
        ...process.env,
        BENCH_NS: ns,
        BENCH_BROKER: JSON.stringify({
          platformPort: broker.ports.platform,
          caFile: broker.files.caFile,
          ingressCertFile: broker.files.ingressCertFile,
          ingressKeyFile: broker.files.ingressKeyFile,
          shareGroup: broker.shareGroup,
          crlFile: broker.files.crlFile,
          pkiDir,
        }),
      },
    });
    await new Promise((resolve, reject) => {
      child.on('message', (m) => m.ready && resolve());
      child.once('exit', (code) => reject(new Error(`services exited (${code})`)));
    });
    console.error('services ready');
    nc = await natsConnect({ servers: SERVERS.NATS_URL });
    const rpc = async (op, body) => {
      const m = await nc.request(`${ns}.iot.rpc.provisioning.${op}`, jc.encode(body), {
        timeout: 30_000,
      });
      const r = jc.decode(m.data);
      if (r.error) throw new Error(`${op}: ${JSON.stringify(r.error)}`);
      return r.result;
    };
    const hws = Array.from({ length: DEVICES }, (_, i) => `BHW-${String(i).padStart(5, '0')}`);
    const rpcHws = Array.from(
      { length: RPC_DEVICES },
      (_, i) => `RHW-${String(i).padStart(5, '0')}`,
    );
    await rpc('create_enrollment', {
      tenant: TENANT,
      device_type: 'sensor',
      hardware_ids: [...hws, ...rpcHws],
    });

    // Factory work, before the clock: bootstrap certificates and the devices' keys and CSRs.
    const devices = [];
    for (const hw of hws) {
      const [bootstrap, csr] = await Promise.all([
        pki.issueClientCertificate(broker.pki.bootstrap, { commonName: hw, profile: 'bootstrap' }),
        pki.createCsr(hw),
      ]);
      devices.push({ hw, bootstrap, csrPem: csr.csrPem });
    }
    console.error(`${DEVICES} bootstrap certificates and CSRs ready`);

    // Ceiling: the service's certificate work alone (check the CSR once, sign from the checked
    // request), one process, no network, no database.
    const s0 = now();
    for (const d of devices) {
      const csr = await pki.inspectCsr(d.csrPem);
      await pki.issueFromInspectedCsr(broker.pki.fleet, csr, { commonName: `c-${d.hw}` });
    }
    const signPerS = DEVICES / ((now() - s0) / 1000);

    const ca = broker.pki.fleet.chainPems;
    // Floor of the MQTT side: mTLS connect + subscribe + disconnect with the bootstrap certificate.
    const pids = { services: child.pid, mosquitto: mosquitto.pid };
    const floorLat = [];
    const floorCpu0 = cpuSnapshot(pids);
    const f0 = now();
    const floor = await playDevices('floor', broker.ports.provisioning, ca, devices);
    floorLat.push(...floor.latencies);
    const floorS = (now() - f0) / 1000;
    const floorCpu = cpuLine(floorCpu0, cpuSnapshot(pids), DEVICES, floorS);
    const floorPerS = DEVICES / floorS;

    // The service alone: the `provision` RPC over NATS, same concurrency, other hardware ids.
    const rpcCsrs = await Promise.all(rpcHws.map((hw) => pki.createCsr(hw)));
    const rpcLat = [];
    const rpcCpu0 = cpuSnapshot(pids);
    const r0 = now();
    await pool(rpcHws, CONCURRENCY, async (hw, i) => {
      const start = now();
      await rpc('provision', {
        hardware_id: hw,
        device_type: 'sensor',
        csr: rpcCsrs[i].csrPem,
        request_id: `r-${hw}`,
      });
      rpcLat.push(now() - start);
    });
    const rpcS = (now() - r0) / 1000;
    const rpcCpu = cpuLine(rpcCpu0, cpuSnapshot(pids), RPC_DEVICES, rpcS);
    const rpcPerS = RPC_DEVICES / rpcS;

    const latencies = [];
    const failures = [];
    const fullCpu0 = cpuSnapshot(pids);
    const t0 = now();
    const full = await playDevices('full', broker.ports.provisioning, ca, devices);
    latencies.push(...full.latencies);
    failures.push(...full.failures);
    const seconds = (now() - t0) / 1000;
    const fullCpu = cpuLine(fullCpu0, cpuSnapshot(pids), DEVICES, seconds);
    const q = quantiles(latencies);
    console.log(
      `devices=${DEVICES} concurrency=${CONCURRENCY} generator threads=${WORKERS} ` +
        `(mTLS, CSR P-256, real services)`,
    );
    console.log(
      `provisioned ${latencies.length} in ${seconds.toFixed(2)} s: ` +
        `${(latencies.length / seconds).toFixed(1)} devices/s; ${fmt(q)}; failed=${failures.length}`,
    );
    console.log(`  CPU: ${fullCpu}`);
    console.log(
      `service alone (provision RPC over NATS, ${RPC_DEVICES} devices): ` +
        `${rpcPerS.toFixed(1)} devices/s; ${fmt(quantiles(rpcLat))}`,
    );
    console.log(`  CPU: ${rpcCpu}`);
    console.log(
      `floor (mTLS connect + subscribe + disconnect): ${floorPerS.toFixed(1)}/s; ` +
        `${fmt(quantiles(floorLat))}; failed=${floor.failures.length}`,
    );
    console.log(`  CPU: ${floorCpu}`);
    console.log(
      `ceiling (CSR check + signing, one process): ${signPerS.toFixed(0)} certificates/s`,
    );
    for (const f of failures.slice(0, 5)) console.log(`  failure ${f}`);
    if (failures.length > 0) {
      console.error(`broker log (tail):\n${brokerLog}`);
      process.exitCode = 1;
    }
  } finally {
    // Clean up: services, broker, schema, streams, files.
    if (child && child.exitCode === null) {
      child.send('stop');
      await new Promise((r) => child.on('exit', r));
    }
    mosquitto.kill('SIGTERM');
    if (mosquitto.exitCode === null) await new Promise((r) => mosquitto.on('exit', r));
    const pg = req('pg');
    const client = new pg.Client({ connectionString: SERVERS.DATABASE_URL });
    await client.connect();
    await client.query(`drop schema if exists "${ns}_prov" cascade`);
    await client.end();
    await req('@drover/testing').cleanupNamespace(ns, {
      natsUrl: SERVERS.NATS_URL,
      redisUrl: null,
    });
    await nc?.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

// Last: the helpers above must be initialized before either role runs.
if (!isMainThread && workerData?.role === 'generator') {
  const { kind, port, ca, devices, concurrency } = workerData;
  parentPort.postMessage(await playHere(kind, port, ca, devices, concurrency));
} else if (process.argv.includes('--services')) await services();
else await main();
