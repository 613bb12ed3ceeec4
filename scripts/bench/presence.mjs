#!/usr/bin/env node
// `pnpm bench:presence`: how fast one command-gateway takes presence, as in a reconnect storm
// after a broker restart. BENCH_PRESENCE registered devices (default 3000, none with a waiting
// command) each get an `online` presence message straight into the DEVICE stream, as the
// ingress publishes them; the clock stops when the gateway's presence table has every device
// online. The registry runs too (it consumes the same presence, and the gateway looks each
// connecting device up there), in this process with the gateway. Prints presences/s and the
// CPU this process (gateway, registry, publisher) and Postgres spent per presence. Built code
// (run `pnpm exec turbo run build` first); shared NATS, Postgres and Redis with a throw-away
// namespace and schemas, cleaned up (streams and Redis keys by the tests' cleanupNamespace).
// Knobs: BENCH_PRESENCE, BENCH_GATEWAY_ENV (JSON of extra gateway settings), NATS_URL,
// DATABASE_URL, REDIS_URL (the registry's cache).
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuByCommand, cpuDelta } from './lib/proc.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const req = createRequire(join(root, 'services', 'command-gateway', 'package.json'));
const pg = req('pg');
const { startCommandGateway } = req(join(root, 'services/command-gateway/dist/index.js'));
const { startDeviceRegistry } = req(join(root, 'services/device-registry/dist/app.js'));
const { connectBus, rpcRequest } = req('@drover/bus');
const { deviceSubject, namespace } = req('@drover/contracts');
const { cleanupNamespace } = req('@drover/testing');

const N = Number(process.env.BENCH_PRESENCE ?? 3000);
const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ns = `bench_${randomBytes(4).toString('hex')}`;
const schema = `${ns}_cmd`;

const quiet = { NATS_URL, DATABASE_URL, DROVER_NAMESPACE: ns, LOG_LEVEL: 'warn', OPS_PORT: '0' };
const registry = await startDeviceRegistry(
  { ...quiet, REDIS_URL, DB_SCHEMA: `${ns}_reg` },
  { ensureStreams: true },
);
const gateway = await startCommandGateway({
  ...quiet,
  DB_SCHEMA: schema,
  ...JSON.parse(process.env.BENCH_GATEWAY_ENV ?? '{}'),
});
const bus = await connectBus({ url: NATS_URL, name: 'bench-presence', namespace: ns });
const db = new pg.Client({ connectionString: DATABASE_URL });
await db.connect();
try {
  const naming = namespace(ns);
  for (let i = 0; i < N; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, N - i) }, (_, k) =>
        rpcRequest(bus, 'device-registry', 'create_device', {
          tenant: 'bench',
          device_id: `p${i + k}`,
          device_type: 'sensor',
          hardware_id: `hw-p${i + k}`,
        }),
      ),
    );
  }
  const online = async () =>
    (await db.query(`select count(*)::int as n from "${schema}".device_presence where online`))
      .rows[0].n;
  const cpu0 = { gateway: process.cpuUsage(), servers: cpuByCommand() };
  const t0 = performance.now();
  const acks = [];
  for (let i = 0; i < N; i++) {
    const at = new Date().toISOString();
    const body = {
      tenant: 'bench',
      device_type: 'sensor',
      device_id: `p${i}`,
      received_at: at,
      state: 'online',
      ts: at,
    };
    acks.push(
      bus.js.publish(deviceSubject(naming, 'presence', 'bench', `p${i}`), JSON.stringify(body)),
    );
    if (acks.length >= 500) await Promise.all(acks.splice(0));
  }
  await Promise.all(acks);
  const published = performance.now() - t0;
  while ((await online()) < N) await new Promise((r) => setTimeout(r, 50));
  const ms = performance.now() - t0;
  // Gateway and registry run in this process: its CPU is theirs, plus the publishing (small).
  const own = process.cpuUsage(cpu0.gateway);
  const pgSec = cpuDelta(cpu0.servers, cpuByCommand(), ['postgres']).postgres;
  const per = (sec) => ((sec * 1000) / N).toFixed(2);
  console.log(
    `presence: ${N} devices online at the gateway in ${(ms / 1000).toFixed(2)} s ` +
      `(${Math.round(N / (ms / 1000))}/s; published in ${(published / 1000).toFixed(2)} s)`,
  );
  console.log(
    `  cpu ms/presence: gateway+registry+publisher ${per((own.user + own.system) / 1e6)}, ` +
      `postgres ${per(pgSec)}`,
  );
} finally {
  await gateway.stop();
  await registry.stop();
  for (const s of [schema, `${ns}_reg`]) await db.query(`drop schema if exists "${s}" cascade`);
  await db.end();
  // The namespace's streams and the registry's Redis keys.
  await cleanupNamespace(ns, { bus, redisUrl: REDIS_URL });
  await bus.close();
}
