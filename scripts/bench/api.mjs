// `pnpm bench:api`: GET /api/v1/devices/{id} through the real gateway and registry (built
// code: run `pnpm exec turbo run build` first), then a bare Fastify answering a constant on the
// same route shape, both with autocannon at the same concurrency. Prints requests/s, p50/p99
// and the ratio. Uses the local NATS/Postgres/Redis under a throwaway namespace, cleaned up.
//
// Processes: this one runs autocannon; the registry, the gateway and the bare server each run
// in a child process (this file with --role), so the load generator does not share their
// event loop. The measured time of each target is split into BENCH_ROUNDS rounds, alternating
// gateway and bare, so a change of machine load during the run hits both alike (the machine is
// shared). Options (env): BENCH_DURATION_S (20, per target), BENCH_CONNECTIONS (64),
// BENCH_WARMUP_S (3), BENCH_ROUNDS (2), BENCH_CPU_PROF_DIR (V8 CPU profile of the gateway).
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const gatewayDir = join(root, 'services', 'api-gateway');
// Packages are resolved as the gateway resolves them (pnpm keeps each package's deps private).
const requireFromGateway = createRequire(join(gatewayDir, 'package.json'));
const dist = (pkg) => join(root, pkg, 'dist', 'index.js');

const SERVERS = {
  NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
};
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 20);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));
const TENANT = 'bench';
const DEVICE_ID = 'bench-device-1';

const role = process.argv[process.argv.indexOf('--role') + 1];
if (process.argv.includes('--role')) {
  await runRole(role).catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  await main();
}

// ---------------------------------------------------------------- children

async function runRole(name) {
  const env = JSON.parse(process.env.BENCH_ENV ?? '{}');
  let stop;
  if (name === 'registry') {
    const { startDeviceRegistry } = requireFromGateway(
      join(root, 'services', 'device-registry', 'dist', 'app.js'),
    );
    const registry = await startDeviceRegistry({ ...SERVERS, ...env, LOG_LEVEL: 'warn' });
    stop = () => registry.stop();
    process.send({ ready: true });
  } else if (name === 'gateway') {
    const { loadGatewayConfig, startGateway } = requireFromGateway(dist('services/api-gateway'));
    const gateway = await startGateway(
      loadGatewayConfig({ ...SERVERS, ...env, LOG_LEVEL: 'warn' }),
    );
    stop = () => gateway.close();
    process.send({ ready: true, url: gateway.url });
  } else if (name === 'bare') {
    const Fastify = requireFromGateway('fastify');
    const app = Fastify();
    const device = JSON.parse(env.DEVICE_JSON);
    app.get('/api/v1/devices/:id', async () => device);
    await app.listen({ port: 0, host: '127.0.0.1' });
    stop = () => app.close();
    process.send({ ready: true, url: `http://127.0.0.1:${app.server.address().port}` });
  } else {
    throw new Error(`unknown role ${name}`);
  }
  process.on('message', async (msg) => {
    if (msg === 'stop') {
      await stop();
      process.exit(0);
    }
  });
}

// ---------------------------------------------------------------- orchestrator

function startChild(name, env) {
  const profile = name === 'gateway' && process.env.BENCH_CPU_PROF_DIR;
  const child = fork(fileURLToPath(import.meta.url), ['--role', name], {
    env: { ...process.env, BENCH_ENV: JSON.stringify(env) },
    execArgv: profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before ready`)));
  });
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.send('stop');
    });
  return { ready, stop };
}

function autocannon(opts) {
  const run = requireFromGateway('autocannon');
  return new Promise((resolve, reject) => {
    run(opts, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

async function warmUp(url, headers) {
  if (WARMUP_S > 0)
    await autocannon({ url, headers, connections: CONNECTIONS, duration: WARMUP_S });
}

/** One measured round; throws if any request failed. */
async function round(label, url, headers, durationS) {
  const r = await autocannon({ url, headers, connections: CONNECTIONS, duration: durationS });
  const bad = r.non2xx + r.errors + r.timeouts;
  if (bad > 0) throw new Error(`${label}: ${bad} failed requests (non2xx/errors/timeouts)`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, n: r.requests.total };
}

/** Rounds of one target combined: mean rate, median p50, worst p99 (conservative). */
function combine(label, rounds) {
  const sorted = rounds.map((r) => r.p50).sort((a, b) => a - b);
  return {
    label,
    rps: rounds.reduce((sum, r) => sum + r.rps, 0) / rounds.length,
    p50: sorted[Math.floor((sorted.length - 1) / 2)],
    p99: Math.max(...rounds.map((r) => r.p99)),
    requests: rounds.reduce((sum, r) => sum + r.n, 0),
    rounds: rounds.map((r) => `${Math.round(r.rps)}/s p99 ${r.p99}`).join(', '),
  };
}

async function main() {
  for (const pkg of ['services/api-gateway', 'services/device-registry', 'packages/testing']) {
    if (!existsSync(dist(pkg))) {
      throw new Error(`${pkg} is not built: run \`pnpm exec turbo run build\` first`);
    }
  }
  const testing = requireFromGateway(dist('packages/testing'));
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const schema = `${ns}_registry`;
  const auth = await testing.createTestAuth();
  const cleanups = [() => auth.close()];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) {
      await fn().catch((err) => console.error('cleanup:', err.message));
    }
  };
  try {
    // The streams, as the `npm start` setup step creates them.
    const setupBus = await testing.withTestBus(ns, { url: SERVERS.NATS_URL });
    cleanups.push(async () => {
      await testing.cleanupNamespace(ns, { bus: setupBus, redisUrl: SERVERS.REDIS_URL });
      await setupBus.close();
    });
    cleanups.push(async () => testing.dropTestDb(await testing.createTestDb(schema), schema));

    const registry = startChild('registry', { DROVER_NAMESPACE: ns, DB_SCHEMA: schema });
    cleanups.push(registry.stop);
    await registry.ready;
    const gateway = startChild('gateway', {
      DROVER_NAMESPACE: ns,
      API_HOST: '127.0.0.1',
      API_PORT: '0',
      AUTH_JWKS_URL: auth.jwksUrl,
      AUTH_ISSUER: auth.issuer,
      AUTH_AUDIENCE: auth.audience,
      // The limiter still runs (one Redis round trip per request); only the budget is lifted.
      RATE_LIMIT_MAX: String(1e9),
    });
    cleanups.push(gateway.stop);
    const { url } = await gateway.ready;

    const token = await auth.sign({
      sub: 'bench',
      tenant: TENANT,
      scope: 'devices:read devices:write',
    });
    const headers = { authorization: `Bearer ${token}` };
    const created = await fetch(`${url}/api/v1/devices`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({
        device_id: DEVICE_ID,
        device_type: 'sensor',
        hardware_id: 'bench-hw-1',
        tags: ['bench'],
        attributes: { site: 'lab', floor: 3 },
      }),
    });
    if (created.status !== 201)
      throw new Error(`create device: ${created.status} ${await created.text()}`);
    const route = `/api/v1/devices/${DEVICE_ID}`;
    // Warm the registry's Redis cache (cache-aside: the first read fills it).
    let device;
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${url}${route}`, { headers });
      if (res.status !== 200) throw new Error(`warm: ${res.status}`);
      device = await res.json();
    }

    const bare = startChild('bare', { DEVICE_JSON: JSON.stringify(device) });
    cleanups.push(bare.stop);
    const { url: bareUrl } = await bare.ready;

    const perRound = DURATION_S / ROUNDS;
    console.log(
      `bench: GET ${route}, ${CONNECTIONS} connections, ${DURATION_S} s per target ` +
        `in ${ROUNDS} alternating rounds (+${WARMUP_S} s warm-up each)`,
    );
    await warmUp(`${url}${route}`, headers);
    await warmUp(`${bareUrl}${route}`, headers);
    const gatewayRounds = [];
    const bareRounds = [];
    for (let i = 0; i < ROUNDS; i++) {
      gatewayRounds.push(await round('gateway', `${url}${route}`, headers, perRound));
      bareRounds.push(await round('bare fastify', `${bareUrl}${route}`, headers, perRound));
    }
    const viaGateway = combine('gateway', gatewayRounds);
    const ceiling = combine('bare fastify', bareRounds);

    const rows = [viaGateway, ceiling].map((r) => ({
      target: r.label,
      'requests/s': Math.round(r.rps),
      'p50 ms': r.p50,
      'p99 ms': r.p99,
      requests: r.requests,
      rounds: r.rounds,
    }));
    console.table(rows);
    const ratio = viaGateway.rps / ceiling.rps;
    console.log(
      `ratio gateway/bare: ${ratio.toFixed(2)} (goal ≥ 0.33); gateway p99 ${viaGateway.p99} ms (goal < 10 ms)`,
    );
  } finally {
    await cleanup();
  }
}
