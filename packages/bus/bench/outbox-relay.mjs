#!/usr/bin/env node
// Outbox relay throughput: BENCH_ROWS (20000) rows of command-sized payloads with trace and
// correlation headers, flushed by one relay (batchSize 500, maxInFlight 128: the command
// gateway's settings) to the COMMANDS stream of a throw-away namespace. Prints rows/s and this
// process's CPU ms per row (relay + pg driver + nats.js; the servers' CPU is not counted).
// Built code: run `pnpm exec turbo run build --filter @drover/bus` first. Shared servers; the
// namespace's streams and schema are deleted at the end.
//
// Knobs (environment): BENCH_ROWS, BENCH_BATCH (500), BENCH_IN_FLIGHT (128), BENCH_DIST (the
// build to load, default ./dist/index.js: e.g. an older build copied next to it), NATS_URL,
// DATABASE_URL.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const req = createRequire(join(here, '..', 'package.json'));
const bus = req(process.env.BENCH_DIST ?? './dist/index.js');
const { createDb, migrate } = req('@drover/db');
const { createLogger } = req('@drover/observability');
const { sql } = req('kysely');

const ROWS = Number(process.env.BENCH_ROWS ?? 20000);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 128);
const ns = `b_relay_${randomBytes(4).toString('hex')}`;
const schema = `${ns}_svc`;
const logger = createLogger({ service: 'relay-bench', level: 'warn' });

const b = await bus.connectBus({
  url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  name: 'relay-bench',
  namespace: ns,
  logger,
});
await bus.ensureStream(b, bus.streamConfigs(b.naming).COMMANDS);
const db = createDb({
  url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  schema,
  poolMax: 4,
  applicationName: 'relay-bench',
});
try {
  await migrate(db, { schema, migrations: { '202611260600_outbox': bus.outboxMigration } });
  for (let i = 0; i < ROWS; i += 1000) {
    const msgs = Array.from({ length: Math.min(1000, ROWS - i) }, (_, k) => {
      const n = i + k;
      const id = `01JBENCH${String(n).padStart(18, '0')}`;
      return {
        subject: `iot.cmd.bench.d-${n % 2000}.${id}`,
        msgId: `cmd:${id}`,
        payload: { msg_id: id, name: 'reboot', params: { delay_s: 5, reason: 'bench' }, ttl_s: 60 },
        headers: {
          traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
          'Drover-Correlation-Id': id,
        },
      };
    });
    await db.transaction().execute((trx) => bus.enqueueMessages(trx, msgs));
  }
  const relay = bus.startOutboxRelay({
    db,
    bus: b,
    logger,
    pollMs: 60_000,
    batchSize: BATCH,
    maxInFlight: IN_FLIGHT,
  });
  // Let the relay's first (timer) flush run so our flushOnce calls join the same loop.
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let sent = 0;
  while (sent < ROWS) sent += await relay.flushOnce();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  await relay.stop();
  const info = await b.jsm.streams.info(b.naming.stream('COMMANDS'));
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(
    JSON.stringify({
      rows: ROWS,
      stored: info.state.messages,
      batchSize: BATCH,
      maxInFlight: IN_FLIGHT,
      wallMs: Math.round(ms),
      rowsPerSec: Math.round((ROWS / ms) * 1000),
      cpuMs: Math.round(cpuMs),
      cpuMsPerRow: Number((cpuMs / ROWS).toFixed(4)),
    }),
  );
} finally {
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db);
  await db.destroy();
  for await (const name of b.jsm.streams.names()) {
    if (name.startsWith(b.naming.stream(''))) await b.jsm.streams.delete(name);
  }
  await b.close();
}
