import { Kysely, PostgresDialect, type RawBuilder } from 'kysely';
import pg from 'pg';
import { type Logger } from '@drover/observability';

/** Options of `createDb`. */
export interface DbOptions {
  /** Postgres connection URL. */
  url: string;
  /** The service's schema; first on every connection's search_path (then `public`). */
  schema: string;
  /** Connections kept open when idle (default 5). */
  poolMin?: number;
  /** Most connections at once (default 30). */
  poolMax?: number;
  /** Shown in pg_stat_activity, to tell services apart. */
  applicationName?: string;
  /** Logs idle-connection errors (a server restart) that would otherwise crash the process. */
  logger?: Logger;
}

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;
const pools = new WeakMap<object, pg.Pool>();

/** Throws unless `schema` is a plain lowercase identifier (it is spliced into SQL). */
export function assertSchemaName(schema: string): void {
  if (!SCHEMA.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
}

/** The pg pool for the options (exported for tests and tools that need raw pg). */
export function createPool(opts: DbOptions): pg.Pool {
  assertSchemaName(opts.schema);
  const pool = new pg.Pool({
    connectionString: opts.url,
    min: opts.poolMin ?? 5,
    max: opts.poolMax ?? 30,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: opts.applicationName,
    // Set at connect time so every pooled connection, including ones the pool opens later,
    // resolves unqualified names in the service's schema.
    options: `-c search_path=${opts.schema},public`,
  });
  pool.on('error', (err) => {
    opts.logger?.warn({ event: 'db.idle_client_error', err }, 'idle postgres connection failed');
  });
  // pg-pool listens for errors only while a client is idle; a client checked out between two
  // queries (a transaction, a migration) that loses its server would otherwise emit an
  // unhandled 'error' and take the process down. The pool drops such a client on release.
  pool.on('connect', (client) => {
    client.on('error', (err) => {
      opts.logger?.warn({ event: 'db.client_error', err }, 'postgres connection failed');
    });
  });
  return pool;
}

/** A Kysely instance on a pg pool whose connections use `search_path = <schema>, public`. */
export function createDb<DB>(opts: DbOptions): Kysely<DB> {
  const pool = createPool(opts);
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}

/** The pg pool behind a `createDb` instance (e.g. to read its options or counters). */
export function poolOf(db: Kysely<unknown>): pg.Pool | undefined {
  return pools.get(db);
}

/**
 * Runs `query` as the named prepared statement `name` on a `createDb` database: each pooled
 * connection parses it once and Postgres may keep one generic plan, where an unnamed statement
 * is parsed and planned on every call (a quarter of the cost of a hot batch statement). On any
 * other Kysely (a transaction, a test's own dialect) it runs unnamed. `name` must always carry
 * the same SQL text; only the parameters vary.
 */
export async function executePrepared<R>(
  db: Kysely<any>, // eslint-disable-line @typescript-eslint/no-explicit-any -- any schema
  name: string,
  query: RawBuilder<R>,
): Promise<{ rows: R[] }> {
  const compiled = query.compile(db);
  const pool = pools.get(db);
  if (pool === undefined) return db.executeQuery(compiled);
  const client = await pool.connect();
  try {
    const r = await client.query<R & pg.QueryResultRow>({
      name,
      text: compiled.sql,
      values: compiled.parameters as unknown[],
    });
    client.release();
    return { rows: r.rows };
  } catch (err) {
    // As pool.query does: a connection whose query failed is not reused.
    client.release(err as Error);
    // A migration (another replica's, during a rolling deploy) changed a table under the
    // prepared statement: "cached plan must not change result type". The connection that held
    // it is gone now; this call runs unnamed.
    if ((err as { code?: string }).code !== '0A000') throw err;
  }
  return db.executeQuery(compiled);
}
