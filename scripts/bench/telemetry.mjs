#!/usr/bin/env node
// pnpm bench:telemetry — real MQTT publishers for N devices → broker → mqtt-ingress →
// JetStream → telemetry-ingest → Postgres, sustained for BENCH_SECONDS, plus the ceilings of
// this machine measured in the same run: the broker's own relay rate (publisher → bare
// subscriber) and the bare unnest batch-insert rate. Private, tuned mosquitto and nats-server
// on free ports; the shared Postgres and Redis under a throw-away namespace and schema.
//
// Knobs (environment): BENCH_SECONDS (60), BENCH_DEVICES (1000), BENCH_PUBLISHERS (4),
// BENCH_WINDOW (in-flight QoS 1 publishes per publisher, 200), BENCH_CEILING_SECONDS (10),
// BENCH_INGRESS_CONNECTIONS (32 per replica), BENCH_INGRESS_REPLICAS (2), BENCH_RATE (open-loop msg/s; 0 = closed loop),
// BENCH_TELEMETRY_BATCH (the ingress's TELEMETRY_BATCH_MAX, 256; 1 = a message per record), DATABASE_URL,
// REDIS_URL, BENCH_CPU_PROF_DIR (V8 CPU profiles of the services).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, processCpuSeconds, waitPort } from './lib/proc.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ingestDir = path.join(root, 'services/telemetry-ingest');
const requireIngress = createRequire(path.join(root, 'services/mqtt-ingress/package.json'));
const requireIngest = createRequire(path.join(ingestDir, 'package.json'));
const mqtt = requireIngress('mqtt');
const { connect: natsConnect, StringCodec } = requireIngress('nats');
const pg = requireIngest('pg');

const env = (k, d) => Number(process.env[k] ?? d);
const SECONDS = env('BENCH_SECONDS', 60);
const CEILING_SECONDS = env('BENCH_CEILING_SECONDS', 10);
const DEVICES = env('BENCH_DEVICES', 1000);
const PUBLISHERS = env('BENCH_PUBLISHERS', 4);
const WINDOW = env('BENCH_WINDOW', 200);
const CONNECTIONS = env('BENCH_INGRESS_CONNECTIONS', 32);
// Ingress processes in the same share group: each is one thread, the box has two cores.
const REPLICAS = env('BENCH_INGRESS_REPLICAS', 2);
// The throughput configuration batches; BENCH_TELEMETRY_BATCH=1 measures the per-record default.
const TELEMETRY_BATCH = env('BENCH_TELEMETRY_BATCH', 256);
// Open loop at this total rate (msg/s) when set: latency at a load the pipeline sustains.
const RATE = env('BENCH_RATE', 0);
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const NS = `bench_${Math.random().toString(36).slice(2, 8)}`;
const TENANT = 'acme';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = [];

function start(name, command, args, opts = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  child.benchName = name;
  let tail = '';
  const keep = (d) => (tail = (tail + d.toString()).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('exit', (code, sig) => {
    if (!child.stopping) console.error(`${name} exited (${code ?? sig})\n${tail}`);
  });
  children.push(child);
  return child;
}

function startService(name, main, extraEnv, startedEvent) {
  const prof = process.env.BENCH_CPU_PROF_DIR;
  const profArgs = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
  const child = start(name, process.execPath, [...profArgs, '--import', 'tsx', main], {
    cwd: ingestDir,
    env: {
      ...process.env,
      ...extraEnv,
      TSX_TSCONFIG_PATH: path.join(ingestDir, 'test/integration/child/tsconfig.json'),
    },
  });
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (d) => {
      seen = (seen + d.toString()).slice(-8000);
      if (seen.includes(startedEvent)) resolve(child);
    });
    child.once('exit', () => reject(new Error(`${name} did not start:\n${seen}`)));
  });
}

/** CPU seconds of a child process, or the sum over a list; a process gone counts 0. */
function cpuSeconds(procOrList) {
  const list = Array.isArray(procOrList) ? procOrList : [procOrList];
  return list.reduce((sum, c) => sum + (processCpuSeconds(c.pid) || 0), 0);
}

async function metricsText(port) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

function counterValue(text, name) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      sum += Number(line.split(' ').pop());
  }
  return sum;
}

// Quantile from a Prometheus histogram (linear inside the bucket).
function histogramQuantile(text, name, q) {
  const buckets = [];
  for (const line of text.split('\n')) {
    const m = line.match(new RegExp(`^${name}_bucket\\{.*le="([^"]+)".*\\} (\\S+)$`));
    if (m) buckets.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
  }
  buckets.sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((rank - prevCount) / Math.max(count - prevCount, 1)) * (le - prevLe);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

function diffHistogram(before, after, name) {
  // Keeps only the increments of the measured window, as a metrics text.
  const map = new Map();
  for (const line of before.split('\n'))
    if (line.startsWith(`${name}_bucket`))
      map.set(line.split(' ')[0], Number(line.split(' ').pop()));
  return after
    .split('\n')
    .filter((l) => l.startsWith(`${name}_bucket`))
    .map(
      (l) => `${l.split(' ')[0]} ${Number(l.split(' ').pop()) - (map.get(l.split(' ')[0]) ?? 0)}`,
    )
    .join('\n');
}

async function connectPublishers(url, count, prefix) {
  const clients = [];
  for (let i = 0; i < count; i += 1) {
    const c = await mqtt.connectAsync(url, {
      clientId: `${prefix}-pub-${i}`,
      clean: true,
      reconnectPeriod: 0,
    });
    c.stream.setNoDelay(true);
    clients.push(c);
  }
  return clients;
}

// Closed loop: each publisher keeps WINDOW QoS 1 publishes in flight, round-robin over devices.
function runPublishers(clients, topicOf, payloadOf, untilMs, rate = RATE) {
  let seq = 0;
  let acked = 0;
  const startedAt = Date.now();
  const loops = clients.map(async (c, p) => {
    const inflight = new Set();
    while (Date.now() < untilMs) {
      if (rate > 0 && seq >= ((Date.now() - startedAt) / 1000) * rate) {
        await sleep(5);
        continue;
      }
      const n = seq++;
      const pr = c.publishAsync(topicOf(n, p), payloadOf(n), { qos: 1 }).then(() => {
        acked += 1;
        inflight.delete(pr);
      });
      inflight.add(pr);
      if (inflight.size >= WINDOW) await Promise.race(inflight);
    }
    await Promise.all(inflight);
  });
  return { done: Promise.all(loops), sent: () => seq, acked: () => acked };
}

async function brokerCeiling(url) {
  const sub = await Promise.all(
    [0, 1].map(async (i) => {
      const c = await mqtt.connectAsync(url, { clientId: `${NS}-bare-${i}`, clean: true });
      c.stream.setNoDelay(true);
      await c.subscribeAsync(`$share/bare/${NS}x/+/+/+/telemetry`, { qos: 1 });
      return c;
    }),
  );
  let received = 0;
  for (const c of sub) c.on('message', () => (received += 1));
  const pubs = await connectPublishers(url, PUBLISHERS, `${NS}-ceil`);
  const body = Buffer.from(
    JSON.stringify({ msg_id: 'x', ts: Date.now(), schema_version: 1, metrics: { t: 21.5, h: 40 } }),
  );
  await sleep(200);
  const t0 = Date.now();
  const run = runPublishers(
    pubs,
    (n) => `${NS}x/${TENANT}/sensor/d${n % DEVICES}/telemetry`,
    () => body,
    t0 + CEILING_SECONDS * 1000,
    0,
  );
  await run.done;
  const elapsed = (Date.now() - t0) / 1000;
  await sleep(500);
  await Promise.all([...pubs, ...sub].map((c) => c.endAsync()));
  return { rate: received / elapsed, sentRate: run.acked() / elapsed };
}

async function insertCeiling(schema) {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  await client.query(`CREATE TABLE ${schema}.bare (tenant text, device_id text, msg_id text, ts timestamptz,
    received_at timestamptz, metrics jsonb, PRIMARY KEY (device_id, ts, msg_id))`);
  const batch = 2000;
  let rows = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < CEILING_SECONDS * 1000) {
    const now = Date.now();
    const ids = [];
    const msgs = [];
    const ts = [];
    const metrics = [];
    for (let i = 0; i < batch; i += 1) {
      ids.push(`d${(rows + i) % DEVICES}`);
      msgs.push(`m${rows + i}`);
      ts.push(now + i);
      metrics.push('{"t":21.5,"h":40}');
    }
    await client.query(
      `INSERT INTO ${schema}.bare SELECT 'acme', u.d, u.m, to_timestamp(u.ts / 1000.0), now(), u.mt
       FROM unnest($1::text[], $2::text[], $3::float8[], $4::jsonb[]) AS u(d, m, ts, mt)
       ON CONFLICT (device_id, msg_id, ts) DO NOTHING`,
      [ids, msgs, ts, metrics],
    );
    rows += batch;
  }
  const rate = rows / ((Date.now() - t0) / 1000);
  await client.query(`DROP SCHEMA ${schema} CASCADE`);
  await client.end();
  return rate;
}

async function rpc(nc, op, body) {
  const sc = StringCodec();
  const res = await nc.request(
    `${NS}.iot.rpc.device-registry.${op}`,
    sc.encode(JSON.stringify(body)),
    { timeout: 10000 },
  );
  const out = JSON.parse(sc.decode(res.data));
  if (out.error) throw new Error(`${op}: ${JSON.stringify(out.error)}`);
  return out.result;
}

async function main() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'drover-bench-'));
  const mqttPort = await freePort();
  const natsPort = await freePort();
  // Tuned broker: in-flight and queue limits raised from 20/1000, Nagle off (see docs/telemetry.md).
  await writeFile(
    path.join(dir, 'mosquitto.conf'),
    [
      `listener ${mqttPort} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_inflight_messages 1000',
      'max_queued_messages 1000000',
      'max_queued_bytes 0',
      'set_tcp_nodelay true',
      process.getuid?.() === 0 ? 'user root' : '',
      '',
    ].join('\n'),
  );
  const broker = start('mosquitto', '/usr/sbin/mosquitto', [
    '-c',
    path.join(dir, 'mosquitto.conf'),
  ]);
  const natsSrv = start('nats-server', '/usr/sbin/nats-server', [
    '-a',
    '127.0.0.1',
    '-p',
    String(natsPort),
    '-js',
    '-sd',
    path.join(dir, 'js'),
  ]);
  await Promise.all([waitPort(mqttPort), waitPort(natsPort)]);
  const MQTT_URL = `mqtt://127.0.0.1:${mqttPort}`;
  const NATS_URL = `nats://127.0.0.1:${natsPort}`;
  console.log(
    `namespace ${NS}; devices ${DEVICES}; publishers ${PUBLISHERS} × window ${WINDOW}; ingress ${REPLICAS} × ${CONNECTIONS} connections; telemetry batch ${TELEMETRY_BATCH}`,
  );

  console.log(`ceiling 1/2: broker relay, QoS 1, ${CEILING_SECONDS} s …`);
  const relay = await brokerCeiling(MQTT_URL);
  console.log(`ceiling 2/2: bare unnest batch insert (2,000 rows), ${CEILING_SECONDS} s …`);
  const insertRate = await insertCeiling(`${NS}_bare`);

  const common = { NATS_URL, DATABASE_URL, REDIS_URL, DROVER_NAMESPACE: NS, LOG_LEVEL: 'info' };
  const ports = { reg: await freePort(), ingest: await freePort() };
  const ingressPorts = [];
  for (let r = 0; r < REPLICAS; r += 1) ingressPorts.push(await freePort());
  const registry = await startService(
    'device-registry',
    path.join(root, 'services/device-registry/src/main.ts'),
    { ...common, DB_SCHEMA: `${NS}_reg`, OPS_PORT: String(ports.reg) },
    'service.started',
  );
  const ingest = await startService(
    'telemetry-ingest',
    path.join(ingestDir, 'src/main.ts'),
    {
      ...common,
      DB_SCHEMA: `${NS}_tel`,
      OPS_PORT: String(ports.ingest),
      TELEMETRY_STREAM_MAX_BYTES: String(2 * 1024 ** 3),
    },
    'service.started',
  );
  const ingress = await Promise.all(
    ingressPorts.map((port, r) =>
      startService(
        `mqtt-ingress-${r}`,
        path.join(root, 'services/mqtt-ingress/src/main.ts'),
        {
          ...common,
          MQTT_URL,
          MQTT_TOPIC_PREFIX: NS,
          MQTT_CLIENT_ID: `${NS}-ingress-${r}`,
          MQTT_CONNECTIONS: String(CONNECTIONS),
          TELEMETRY_BATCH_MAX: String(TELEMETRY_BATCH),
          OPS_PORT: String(port),
          TELEMETRY_STREAM_MAX_BYTES: String(2 * 1024 ** 3),
        },
        'service.started',
      ),
    ),
  );

  const nc = await natsConnect({ servers: NATS_URL });
  for (let i = 0; i < DEVICES; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, DEVICES - i) }, (_, k) =>
        rpc(nc, 'create_device', {
          tenant: TENANT,
          device_id: `d${i + k}`,
          device_type: 'sensor',
          hardware_id: `hw-${i + k}`,
        }),
      ),
    );
  }
  console.log(`registered ${DEVICES} devices; pipeline, ${SECONDS} s sustained …`);

  const pubs = await connectPublishers(MQTT_URL, PUBLISHERS, `${NS}-pipe`);
  const topicOf = (n) => `${NS}/${TENANT}/sensor/d${n % DEVICES}/telemetry`;
  const payloadOf = (n) =>
    JSON.stringify({
      msg_id: `m${n}`,
      ts: Date.now(),
      schema_version: 1,
      metrics: { t: 21.5, h: 40, n },
    });
  // Warm-up (caches, JIT, partitions), then the measured window.
  const warm = runPublishers(pubs, topicOf, payloadOf, Date.now() + 5000);
  await warm.done;
  const offset = warm.sent();
  const warmDeadline = Date.now() + 60000;
  while (Date.now() < warmDeadline) {
    const done = counterValue(
      await metricsText(ports.ingest),
      'drover_telemetry_rows_inserted_total',
    );
    if (done >= warm.acked()) break;
    await sleep(200);
  }
  const procs = {
    mosquitto: broker,
    'nats-server': natsSrv,
    'mqtt-ingress': ingress,
    'telemetry-ingest': ingest,
    'device-registry': registry,
  };
  const cpu0 = Object.fromEntries(
    await Promise.all(Object.entries(procs).map(async ([k, c]) => [k, await cpuSeconds(c)])),
  );
  const self0 = process.cpuUsage();
  const m0 = await metricsText(ports.ingest);
  const rows0 = counterValue(m0, 'drover_telemetry_rows_inserted_total');
  let forwarded0 = 0;
  for (const port of ingressPorts) {
    forwarded0 += counterValue(await metricsText(port), 'drover_ingress_messages_published_total');
  }
  const t0 = Date.now();
  const run = runPublishers(
    pubs,
    (n) => topicOf(n + offset),
    (n) => payloadOf(n + offset),
    t0 + SECONDS * 1000,
  );
  await run.done;
  const published = run.acked();
  // Where the backlog sits when the publishers stop: in the broker (not yet forwarded by the
  // ingress) or in JetStream (forwarded, not yet committed).
  const forwardedAt = async () => {
    let n = 0;
    for (const port of ingressPorts) {
      const text = await metricsText(port);
      n += counterValue(text, 'drover_ingress_messages_published_total');
    }
    return n;
  };
  const forwardedEnd = (await forwardedAt()) - forwarded0;
  const committedEnd =
    counterValue(await metricsText(ports.ingest), 'drover_telemetry_rows_inserted_total') - rows0;
  // Drain: wait until every published message is committed (or 60 s).
  const target = rows0 + published;
  let m1 = m0;
  const drainDeadline = Date.now() + 60000;
  while (Date.now() < drainDeadline) {
    m1 = await metricsText(ports.ingest);
    if (counterValue(m1, 'drover_telemetry_rows_inserted_total') >= target) break;
    await sleep(200);
  }
  const elapsed = (Date.now() - t0) / 1000;
  const rows1 = counterValue(m1, 'drover_telemetry_rows_inserted_total');
  const committed = rows1 - rows0;
  const cpu1 = Object.fromEntries(
    await Promise.all(Object.entries(procs).map(async ([k, c]) => [k, await cpuSeconds(c)])),
  );
  const self = process.cpuUsage(self0);
  const lat = diffHistogram(m0, m1, 'drover_telemetry_device_latency_seconds');
  const p50 = histogramQuantile(lat, 'drover_telemetry_device_latency_seconds', 0.5);
  const p99 = histogramQuantile(lat, 'drover_telemetry_device_latency_seconds', 0.99);
  let rejected = 0;
  for (const port of ingressPorts) {
    rejected += counterValue(await metricsText(port), 'drover_ingress_messages_rejected_total');
  }

  const sustained = committed / elapsed;
  const ceiling = Math.min(relay.rate, insertRate);
  const lines = [
    `pipeline: ${published} published (QoS 1 acked by the broker) in ${SECONDS} s, ${committed} rows committed, ${rejected} rejected`,
    `when the publishers stopped: ${forwardedEnd} forwarded to JetStream by the ingress, ${committedEnd} committed`,
    `sustained: ${Math.round(sustained)} msg/s end to end (publish → committed row, drain included: ${elapsed.toFixed(1)} s)`,
    `latency publish → committed: p50 ${(p50 * 1000).toFixed(0)} ms, p99 ${(p99 * 1000).toFixed(0)} ms`,
    `cpu seconds: ${Object.keys(procs)
      .map((k) => `${k} ${(cpu1[k] - cpu0[k]).toFixed(1)}`)
      .join(', ')}, publishers ${((self.user + self.system) / 1e6).toFixed(1)}`,
    `ceilings: broker relay ${Math.round(relay.rate)} msg/s (QoS 1, ${PUBLISHERS} publishers → 2 bare shared subscribers), bare unnest insert ${Math.round(insertRate)} rows/s`,
    `ratio: pipeline / smaller ceiling = ${(sustained / ceiling).toFixed(2)}`,
  ];
  console.log(`\n${lines.join('\n')}`);
  console.log(
    `loadavg at end: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} (${os.cpus().length} cores)`,
  );

  await Promise.all(pubs.map((c) => c.endAsync()));
  await nc.close();
  for (const c of [...ingress, ingest, registry]) {
    c.stopping = true;
    c.kill('SIGTERM');
    await new Promise((r) => c.once('exit', r));
  }
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${NS}_tel CASCADE`);
  await client.query(`DROP SCHEMA IF EXISTS ${NS}_reg CASCADE`);
  await client.end();
  const redis = new (requireIngest('ioredis').Redis)(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${NS}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.quit();
  for (const c of [broker, natsSrv]) {
    c.stopping = true;
    c.kill('SIGTERM');
    await new Promise((r) => c.once('exit', r));
  }
  await rm(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  for (const c of children) {
    c.stopping = true;
    c.kill('SIGKILL');
  }
  process.exit(1);
});
