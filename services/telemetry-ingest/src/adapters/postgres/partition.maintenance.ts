// Partitions are created ahead (and on demand for a batch's days) and dropped whole past
// retention: deleting rows would leave bloat, dropping a table is instant.
import { type Kysely, sql } from 'kysely';
import { type DayPartition, partitionsToDrop } from '../../domain/partitions';
import { type TelemetryDb } from './telemetry.table';

// Any constant distinct from other services' advisory keys: DDL on the parent is serialized
// across replicas so two never race on the same partition.
const LOCK_KEY = 7_324_001;

/** Creates the partitions that do not exist yet (idempotent across replicas). */
export async function createPartitions(
  db: Kysely<TelemetryDb>,
  parts: readonly DayPartition[],
): Promise<void> {
  if (parts.length === 0) return;
  await db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${LOCK_KEY})`.execute(trx);
    for (const p of parts) {
      await sql`
        CREATE TABLE IF NOT EXISTS ${sql.id(p.name)} PARTITION OF telemetry
        FOR VALUES FROM (${sql.lit(p.from)}) TO (${sql.lit(p.to)})`.execute(trx);
    }
  });
}

/** Names of the existing partitions of `schema`.telemetry. */
export async function listPartitions(db: Kysely<TelemetryDb>, schema: string): Promise<string[]> {
  const res = await sql<{ name: string }>`
    SELECT c.relname AS name
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent
    JOIN pg_namespace n ON n.oid = p.relnamespace
    WHERE p.relname = 'telemetry' AND n.nspname = ${schema}
    ORDER BY 1`.execute(db);
  return res.rows.map((r) => r.name);
}

/** Drops the partitions wholly past retention; returns their names. */
export async function dropExpiredPartitions(
  db: Kysely<TelemetryDb>,
  schema: string,
  nowMs: number,
  retentionDays: number,
): Promise<string[]> {
  const expired = partitionsToDrop(await listPartitions(db, schema), nowMs, retentionDays);
  if (expired.length === 0) return [];
  await db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${LOCK_KEY})`.execute(trx);
    for (const name of expired) await sql`DROP TABLE IF EXISTS ${sql.id(name)}`.execute(trx);
  });
  return expired;
}
