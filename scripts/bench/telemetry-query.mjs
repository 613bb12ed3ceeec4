// `pnpm bench:telemetry-query`: GET /api/v1/devices/{id}/telemetry over a day of one device's
// data at 1 message/s (86,400 rows), through the real gateway, registry and telemetry-ingest
// (built code: run `pnpm exec turbo run build` first). Times the raw first page and each
// aggregate with a 1m bucket over the whole day: p50/p99 of BENCH_REQUESTS sequential requests
// each (issue 7, item 3: served within 50 ms). Uses the local NATS/Postgres/Redis under a
// throwaway namespace and schemas, cleaned up.
//
// The rows go straight into the ingest's table (created by its own migrations and partition
// maintenance) with one INSERT ... SELECT generate_series: this measures the query, not the
// ingest. The day is today's UTC day, so it sits in one daily partition, as a day-aligned query
// does. Everything runs in this process: requests are sequential (latency, not throughput), so
// the client does not compete with the server for the event loop. Options (env):
// BENCH_REQUESTS (50), BENCH_WARMUP (5).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = (pkg, file = 'index.js') => join(root, pkg, 'dist', file);
// Packages are resolved as the services resolve them (pnpm keeps each package's deps private).
const requireFromIngest = createRequire(join(root, 'services', 'telemetry-ingest', 'package.json'));

const SERVERS = {
  NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
};
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 50);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5);
const ROWS = 86_400;
const TENANT = 'bench';
const DEVICE_ID = 'bench-device-1';
const AGGS = ['avg', 'min', 'max', 'sum', 'count', 'last'];

const pct = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

/** Times `REQUESTS` sequential GETs of `url` after `WARMUP` unmeasured ones. */
async function measure(label, url, headers, check) {
  for (let i = 0; i < WARMUP; i++) await (await fetch(url, { headers })).arrayBuffer();
  const times = [];
  let body;
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { headers });
    body = await res.json();
    times.push(performance.now() - t0);
    if (res.status !== 200) throw new Error(`${label}: ${res.status} ${JSON.stringify(body)}`);
  }
  check(body);
  times.sort((a, b) => a - b);
  return {
    query: label,
    'p50 ms': +pct(times, 50).toFixed(1),
    'p99 ms': +pct(times, 99).toFixed(1),
  };
}

async function main() {
  for (const pkg of [
    'services/api-gateway',
    'services/device-registry',
    'services/telemetry-ingest',
    'packages/testing',
  ]) {
    if (!existsSync(dist(pkg)))
      throw new Error(`${pkg} is not built: run \`pnpm exec turbo run build\``);
  }
  const testing = requireFromIngest(dist('packages/testing'));
  const { startDeviceRegistry } = requireFromIngest(dist('services/device-registry', 'app.js'));
  const { startTelemetryIngest, loadIngestConfig } = requireFromIngest(
    dist('services/telemetry-ingest'),
  );
  const { loadGatewayConfig, startGateway } = requireFromIngest(dist('services/api-gateway'));
  const { sql } = requireFromIngest('kysely');
  const { createLogger } = requireFromIngest(dist('packages/observability'));
  const logger = createLogger({ service: 'bench', level: 'warn' });

  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const regSchema = `${ns}_registry`;
  const telSchema = `${ns}_tel`;
  const cleanups = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) {
      await fn().catch((err) => console.error('cleanup:', err.message));
    }
  };
  try {
    const auth = await testing.createTestAuth();
    cleanups.push(() => auth.close());
    const bus = await testing.withTestBus(ns, { url: SERVERS.NATS_URL });
    cleanups.push(async () => {
      await testing.cleanupNamespace(ns, { bus, redisUrl: SERVERS.REDIS_URL });
      await bus.close();
    });
    for (const s of [regSchema, telSchema]) {
      cleanups.push(async () => testing.dropTestDb(await testing.createTestDb(s), s));
    }
    const env = { ...SERVERS, DROVER_NAMESPACE: ns, LOG_LEVEL: 'warn' };
    const registry = await startDeviceRegistry({ ...env, DB_SCHEMA: regSchema }, { logger });
    cleanups.push(() => registry.stop());
    const ingest = await startTelemetryIngest(
      loadIngestConfig({ ...env, DB_SCHEMA: telSchema, ENSURE_STREAMS: 'false', OPS_PORT: '0' }),
      { logger, opsServer: false },
    );
    cleanups.push(() => ingest.stop());
    const gateway = await startGateway(
      loadGatewayConfig({
        ...env,
        API_HOST: '127.0.0.1',
        API_PORT: '0',
        AUTH_JWKS_URL: auth.jwksUrl,
        AUTH_ISSUER: auth.issuer,
        AUTH_AUDIENCE: auth.audience,
        RATE_LIMIT_MAX: String(1e9),
      }),
      { logger },
    );
    cleanups.push(() => gateway.close());
    const { url } = gateway;

    const token = await auth.sign({
      sub: 'bench',
      tenant: TENANT,
      scope: 'devices:write telemetry:read',
    });
    const headers = { authorization: `Bearer ${token}` };
    const created = await fetch(`${url}/api/v1/devices`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({
        device_id: DEVICE_ID,
        device_type: 'sensor',
        hardware_id: 'bench-hw',
      }),
    });
    if (created.status !== 201) throw new Error(`create device: ${created.status}`);

    const day = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000);
    const db = await testing.createTestDb(telSchema);
    const t0 = performance.now();
    await sql`
      INSERT INTO telemetry (tenant, device_id, msg_id, ts, received_at, metrics)
      SELECT ${TENANT}, ${DEVICE_ID}, 'm' || i, t, t + interval '5 ms',
             jsonb_build_object('temp', round((20 + 5 * sin(i / 3600.0))::numeric, 2),
                                'humidity', 40 + i % 20, 'door', (i % 60 = 0))
      FROM generate_series(0, ${ROWS - 1}) AS i,
           LATERAL (SELECT ${day.toISOString()}::timestamptz + i * interval '1 second' AS t) x`.execute(
      db,
    );
    await sql`ANALYZE telemetry`.execute(db);
    const insertS = (performance.now() - t0) / 1000;
    await db.destroy();
    console.log(
      `bench: ${ROWS} rows of ${DEVICE_ID} inserted in ${insertS.toFixed(1)} s; ` +
        `${REQUESTS} sequential requests per query (+${WARMUP} warm-up)`,
    );

    const from = day.toISOString();
    const to = new Date(day.getTime() + 86_400_000).toISOString();
    const base = `${url}/api/v1/devices/${DEVICE_ID}/telemetry?from=${from}&to=${to}`;
    const rows = [];
    rows.push(
      await measure('raw, first page of 100', `${base}&limit=100`, headers, (b) => {
        if (b.items.length !== 100 || b.next_cursor === null) throw new Error('raw: bad page');
      }),
    );
    rows.push(
      await measure('raw, first page of 1000', `${base}&limit=1000`, headers, (b) => {
        if (b.items.length !== 1000) throw new Error('raw: bad page');
      }),
    );
    for (const agg of AGGS) {
      rows.push(
        await measure(
          `temp ${agg}, 1m buckets (1440)`,
          `${base}&metric=temp&bucket=1m&agg=${agg}`,
          headers,
          (b) => {
            if (b.items.length !== 1440) throw new Error(`${agg}: ${b.items.length} buckets`);
          },
        ),
      );
    }
    console.table(rows);
    const worst = Math.max(...rows.map((r) => r['p99 ms']));
    console.log(`worst p99 ${worst} ms (goal: within 50 ms)`);
  } finally {
    await cleanup();
  }
}

await main();
process.exit(0);
