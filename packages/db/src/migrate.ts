import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import { assertSchemaName } from './create-db';

const MIGRATION_NAME = /^\d{12}_[a-z0-9_]+$/;

/** Options of `migrate`. */
export interface MigrateOptions {
  /** Schema the migrations and their bookkeeping tables live in. */
  schema: string;
  /** Migrations by name (`YYYYMMDDHHmm_what`); applied in name order. */
  migrations: Record<string, Migration>;
}

/** Serves migrations from an object instead of a folder, so bundling cannot lose one. */
export class ObjectMigrationProvider implements MigrationProvider {
  constructor(private readonly migrations: Record<string, Migration>) {}

  /** Every migration, old and new. */
  async getMigrations(): Promise<Record<string, Migration>> {
    return this.migrations;
  }
}

/**
 * Creates the schema and applies pending migrations, each in its own transaction. Replicas
 * starting together serialize on an advisory lock keyed by the schema, held on the same
 * connection the migrator uses. Returns the names applied; throws on the first failure.
 */
export async function migrate(db: Kysely<unknown>, opts: MigrateOptions): Promise<string[]> {
  assertSchemaName(opts.schema);
  // Order is by name, so a name off the pattern would silently run at the wrong moment.
  const misnamed = Object.keys(opts.migrations).filter((name) => !MIGRATION_NAME.test(name));
  if (misnamed.length > 0) {
    throw new Error(`migration names must look like YYYYMMDDHHmm_what: ${misnamed.join(', ')}`);
  }
  const key = `drover:migrate:${opts.schema}`;
  return db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(hashtext(${key}))`.execute(conn);
    try {
      await sql`create schema if not exists ${sql.id(opts.schema)}`.execute(conn);
      const migrator = new Migrator({
        db: conn,
        provider: new ObjectMigrationProvider(opts.migrations),
        migrationTableSchema: opts.schema,
      });
      const { error, results = [] } = await migrateRetryingForeignSchemaRace(migrator, opts.schema);
      if (error !== undefined) {
        const failed = results.find((r) => r.status === 'Error')?.migrationName;
        const where = failed ? `migration ${failed}` : 'migrations';
        throw new Error(`${where} failed in schema ${opts.schema}: ${errorMessage(error)}`, {
          cause: error,
        });
      }
      return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
    } finally {
      await sql`select pg_advisory_unlock(hashtext(${key}))`.execute(conn);
    }
  });
}

/** Drops a schema and everything in it (tests, decommissioning an install). */
export async function dropSchema(db: Kysely<unknown>, schema: string): Promise<void> {
  assertSchemaName(schema);
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db);
}

/**
 * kysely's migrator introspects the tables of every schema; a schema that another session drops
 * at that moment (tests do so constantly on a shared server) makes the query fail although our
 * schema is fine. Such a failure touched nothing of ours, so it is retried a few times.
 */
async function migrateRetryingForeignSchemaRace(
  migrator: Migrator,
  schema: string,
): ReturnType<Migrator['migrateToLatest']> {
  for (let attempt = 1; ; attempt += 1) {
    const outcome = await migrator.migrateToLatest();
    const missing = /schema "([^"]+)" does not exist|relation "([^".]+)\./.exec(
      outcome.error === undefined ? '' : errorMessage(outcome.error),
    );
    const other = missing?.[1] ?? missing?.[2];
    const applied = outcome.results?.some((r) => r.status !== 'NotExecuted') ?? false;
    if (other === undefined || other === schema || applied || attempt >= 5) return outcome;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
