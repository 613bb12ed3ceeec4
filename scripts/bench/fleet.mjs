#!/usr/bin/env node
// pnpm bench:fleet — the device simulator (built dist) playing BENCH_DEVICES devices in one
// process, in worker threads, against a private Mosquitto on a free port: time to connect the
// fleet, then BENCH_SECONDS of telemetry every SIM_TELEMETRY_INTERVAL_S per device (counted by a
// subscriber on the broker) with a command stream (ping commands answered by the devices,
// round trip measured), CPU of the simulator and the broker, and memory per connected device.
//
// Knobs (environment): BENCH_DEVICES (10000), BENCH_SECONDS (60), BENCH_INTERVAL_S (10, the
// telemetry interval per device), BENCH_WAVE (500, devices connected at a time),
// BENCH_WORKERS (-1 = auto, one thread per 2,500 devices up to one per core), BENCH_COMMAND_RATE
// (commands/s during the sustained phase, 20), MOSQUITTO_BIN (/usr/sbin/mosquitto).
// Needs `pnpm build` (services/device-simulator/dist). Plain MQTT: the mTLS listeners are not
// part of this benchmark yet.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const simDir = path.join(root, 'services/device-simulator');
const requireSim = createRequire(path.join(simDir, 'package.json'));
const env = (k, d) => Number(process.env[k] ?? d);
const DEVICES = env('BENCH_DEVICES', 10_000);
const SECONDS = env('BENCH_SECONDS', 60);
const INTERVAL_S = env('BENCH_INTERVAL_S', 10);
const WAVE = env('BENCH_WAVE', 500);
const WORKERS = env('BENCH_WORKERS', -1);
const COMMAND_RATE = env('BENCH_COMMAND_RATE', 20);
const MOSQUITTO = process.env.MOSQUITTO_BIN ?? '/usr/sbin/mosquitto';
const PREFIX = 'benchfleet';
const TENANT = 'acme';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (!existsSync(path.join(simDir, 'dist/app.js'))) {
  console.error('services/device-simulator is not built: run pnpm build first');
  process.exit(1);
}
const { startDeviceSimulator, loadSimulatorConfig } = requireSim('./dist/index.js');
const { createLogger, createMetrics } = requireSim('@drover/observability');
const mqtt = requireSim('mqtt');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function waitPort(port, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end(() => resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} never opened`);
    await sleep(100);
  }
}

/** utime + stime of a process in seconds (CLK_TCK = 100). */
async function cpuOf(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function rssOf(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) * 1024;
}

const quantile = (sorted, q) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`;

const dir = await mkdtemp(path.join(os.tmpdir(), 'drover-bench-fleet-'));
const port = await freePort();
const conf = [
  `listener ${port} 127.0.0.1`,
  'allow_anonymous true',
  'persistence false',
  'max_connections -1',
  'max_inflight_messages 0',
  'max_queued_messages 10000',
  'set_tcp_nodelay true',
  ...(process.getuid?.() === 0 ? ['user root'] : []),
];
await writeFile(path.join(dir, 'mosquitto.conf'), `${conf.join('\n')}\n`);
const broker = spawn(MOSQUITTO, ['-c', path.join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
let sim;
let observer;
const cleanup = async () => {
  await sim?.stop().catch((err) => console.error('simulator stop:', err.message));
  await observer?.endAsync(true).catch(() => undefined);
  broker.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  await waitPort(port);
  const load = os.loadavg()[0];
  console.log(
    `bench:fleet ${DEVICES} devices, telemetry every ${INTERVAL_S} s, ${SECONDS} s sustained; ` +
      `${os.availableParallelism()} cores, load average ${load.toFixed(1)}`,
  );

  // A subscriber on the broker counts what the fleet delivers and times command round trips.
  let telemetry = 0;
  const pending = new Map();
  const rtts = [];
  observer = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clean: true });
  observer.on('message', (topic, payload) => {
    if (topic.endsWith('/telemetry')) telemetry += 1;
    else if (topic.endsWith('/cmd/res')) {
      const body = JSON.parse(payload.toString());
      const sentAt = pending.get(body.cmd_id);
      if (sentAt !== undefined && body.status === 'succeeded') {
        rtts.push(performance.now() - sentAt);
        pending.delete(body.cmd_id);
      }
    }
  });
  await observer.subscribeAsync({
    [`${PREFIX}/+/+/+/telemetry`]: { qos: 0 },
    [`${PREFIX}/+/+/+/cmd/res`]: { qos: 1 },
  });

  const rssBefore = process.memoryUsage().rss;
  const brokerRssBefore = await rssOf(broker.pid);
  const cpuBefore = process.cpuUsage();
  const t0 = performance.now();
  const config = loadSimulatorConfig({
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    SIM_REGISTER: 'false',
    MQTT_URL: `mqtt://127.0.0.1:${port}`,
    MQTT_TOPIC_PREFIX: PREFIX,
    FLEET_SIZE: String(DEVICES),
    SIM_TENANT: TENANT,
    SIM_TELEMETRY_INTERVAL_S: String(INTERVAL_S),
    SIM_WAVE_SIZE: String(WAVE),
    SIM_WORKERS: String(WORKERS),
    SIM_CBOR_EVERY: '5',
  });
  const logger = createLogger({ service: 'bench-fleet', level: config.LOG_LEVEL });
  sim = await startDeviceSimulator(config, {
    logger,
    metrics: createMetrics({ service: 'device-simulator', defaultMetrics: false }),
  });
  await sim.up;
  const connectS = (performance.now() - t0) / 1000;
  const connectCpu = process.cpuUsage(cpuBefore);
  console.log(
    `connected ${sim.onlineCount()} devices in ${connectS.toFixed(1)} s ` +
      `(${(DEVICES / connectS).toFixed(0)} connections/s, ${sim.workers} worker threads; ` +
      `simulator CPU ${((connectCpu.user + connectCpu.system) / 1e6).toFixed(1)} s)`,
  );

  // Settle one interval so every device is in its telemetry rhythm, then measure.
  await sleep(INTERVAL_S * 1000);
  const ids = Array.from(
    { length: DEVICES },
    (_, i) => `sim-${TENANT}-${String(i + 1).padStart(Math.max(4, String(DEVICES).length), '0')}`,
  );
  const telemetryStart = telemetry;
  const cpuStart = process.cpuUsage();
  const brokerCpuStart = await cpuOf(broker.pid);
  const start = performance.now();
  let n = 0;
  const commands = setInterval(() => {
    const id = ids[(n * 7919) % DEVICES];
    const msgId = `bench-${n++}`;
    pending.set(msgId, performance.now());
    observer
      .publishAsync(
        `${PREFIX}/${TENANT}/sensor/${id}/cmd`,
        JSON.stringify({
          msg_id: msgId,
          ts: Date.now(),
          schema_version: 1,
          command: { name: 'ping', params: {} },
          expires_at: new Date(Date.now() + 60_000).toISOString(),
        }),
        { qos: 1 },
      )
      .catch((err) => console.error('command publish:', err.message));
  }, 1000 / COMMAND_RATE);
  await sleep(SECONDS * 1000);
  clearInterval(commands);
  const elapsed = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const brokerCpu = (await cpuOf(broker.pid)) - brokerCpuStart;
  const received = telemetry - telemetryStart;
  await sleep(2000);
  const rss = process.memoryUsage().rss;
  const brokerRss = await rssOf(broker.pid);
  const sorted = [...rtts].sort((a, b) => a - b);
  const online = sim.onlineCount();

  const result = {
    devices: DEVICES,
    online,
    workers: sim.workers,
    connect_s: Number(connectS.toFixed(2)),
    telemetry_msg_s: Number((received / elapsed).toFixed(0)),
    expected_msg_s: Number((DEVICES / INTERVAL_S).toFixed(0)),
    simulator_cpu_cores: Number(((cpu.user + cpu.system) / 1e6 / elapsed).toFixed(3)),
    broker_cpu_cores: Number((brokerCpu / elapsed).toFixed(3)),
    simulator_rss_mb: Number((rss / 1024 / 1024).toFixed(0)),
    simulator_kb_per_device: Number(((rss - rssBefore) / DEVICES / 1024).toFixed(1)),
    broker_rss_mb: Number((brokerRss / 1024 / 1024).toFixed(0)),
    broker_kb_per_device: Number(((brokerRss - brokerRssBefore) / DEVICES / 1024).toFixed(1)),
    commands_sent: n,
    commands_answered: rtts.length,
    command_rtt_p50_ms: Number(quantile(sorted, 0.5).toFixed(1)),
    command_rtt_p95_ms: Number(quantile(sorted, 0.95).toFixed(1)),
    load_average: Number(os.loadavg()[0].toFixed(1)),
  };
  console.log(
    [
      `online after ${SECONDS} s: ${online}/${DEVICES}`,
      `telemetry: ${result.telemetry_msg_s} msg/s sustained (expected ${result.expected_msg_s})`,
      `CPU: simulator ${result.simulator_cpu_cores} cores, broker ${result.broker_cpu_cores} cores`,
      `memory: simulator ${mb(rss)} (${kb((rss - rssBefore) / DEVICES)} per device above the idle process), ` +
        `broker ${mb(brokerRss)} (${kb((brokerRss - brokerRssBefore) / DEVICES)} per connection)`,
      `commands: ${rtts.length}/${n} answered, round trip p50 ${result.command_rtt_p50_ms} ms, ` +
        `p95 ${result.command_rtt_p95_ms} ms`,
    ].join('\n'),
  );
  console.log(JSON.stringify(result));
} finally {
  await cleanup();
}
process.exit(0);
