import { sql, type Kysely } from 'kysely';
import { type AnyKysely } from '@drover/bus';
import { createDb, dropSchema } from '@drover/db';

/** Shared Postgres of the dev/CI machine unless `DATABASE_URL` says otherwise. */
export const TEST_DATABASE_URL =
  process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Options of {@link createTestDb}. */
export interface TestDbOptions {
  /** Database URL (default the shared server). */
  url?: string;
  /** Pool size (default 5: tests are small, the server is shared). */
  poolMax?: number;
}

/**
 * A Kysely instance whose search_path is `schema`, created (empty) if missing. Pair it with
 * {@link dropTestDb} in afterAll.
 */
export async function createTestDb<DB = unknown>(
  schema: string,
  opts: TestDbOptions = {},
): Promise<Kysely<DB>> {
  const db = createDb<DB>({
    url: opts.url ?? TEST_DATABASE_URL,
    schema,
    poolMin: 0,
    poolMax: opts.poolMax ?? 5,
    applicationName: `test-${schema}`,
  });
  await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  return db;
}

/** Drops the schema (cascade) and closes the pool. */
export async function dropTestDb(db: AnyKysely, schema: string): Promise<void> {
  try {
    await dropSchema(db, schema);
  } finally {
    await db.destroy();
  }
}
