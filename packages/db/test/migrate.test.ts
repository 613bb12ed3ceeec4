import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { type Migration } from 'kysely/migration';
import { createDb, dropSchema, migrate } from '../src';

const URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const schema = `t_${randomBytes(4).toString('hex')}_db_migrate`;

// Each up() records a row, so a migration applied twice shows up as a duplicate.
function recording(name: string, ddl?: (db: Kysely<unknown>) => Promise<void>): Migration {
  return {
    async up(db) {
      if (ddl) await ddl(db);
      // A short sleep inside the migration widens the window for a race between replicas.
      await sql`select pg_sleep(0.05)`.execute(db);
      await sql`insert into applied (name) values (${name})`.execute(db);
    },
  };
}

const migrations: Record<string, Migration> = {
  '202611260600_applied': {
    async up(db) {
      await db.schema
        .createTable('applied')
        .addColumn('name', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '202611260601_devices': recording('202611260601_devices', async (db) => {
    await db.schema
      .createTable('devices')
      .addColumn('device_id', 'text', (c) => c.primaryKey())
      .execute();
  }),
  '202611260602_tags': recording('202611260602_tags'),
};

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('migrate', () => {
  const dbA = createDb<unknown>({ url: URL, schema, poolMin: 0, poolMax: 3 });
  const dbB = createDb<unknown>({ url: URL, schema, poolMin: 0, poolMax: 3 });

  afterAll(async () => {
    await dropSchema(dbA, schema);
    await dbA.destroy();
    await dbB.destroy();
  });

  it('applies each migration exactly once when two replicas migrate concurrently', async () => {
    const [a, b] = await Promise.all([
      migrate(dbA, { schema, migrations }),
      migrate(dbB, { schema, migrations }),
    ]);
    const names = Object.keys(migrations);
    // One replica applied everything, the other found nothing pending.
    expect([...a, ...b].sort()).toEqual(names);
    expect([a.length, b.length].sort()).toEqual([0, 3]);

    const rows = await sql<{ name: string }>`select name from applied order by name`.execute(dbA);
    expect(rows.rows.map((r) => r.name)).toEqual(names.slice(1));
  });

  it('creates tables in the service schema through search_path', async () => {
    const res = await sql<{ table_schema: string }>`
      select table_schema from information_schema.tables where table_name = 'devices'
        and table_schema = ${schema}`.execute(dbA);
    expect(res.rows).toHaveLength(1);
    const bookkeeping = await sql<{ n: number }>`
      select count(*)::int as n from information_schema.tables
       where table_schema = ${schema} and table_name = 'kysely_migration'`.execute(dbA);
    expect(bookkeeping.rows[0]?.n).toBe(1);
  });

  it('applies only the new migration on the next start', async () => {
    const applied = await migrate(dbA, {
      schema,
      migrations: { ...migrations, '202611260700_more': recording('202611260700_more') },
    });
    expect(applied).toEqual(['202611260700_more']);
  });

  it('throws naming the failing migration and keeps its changes out', async () => {
    const failing: Record<string, Migration> = {
      ...migrations,
      '202611260700_more': recording('202611260700_more'),
      '202611260800_broken': {
        async up(db) {
          await db.schema.createTable('half_done').addColumn('id', 'integer').execute();
          await sql`select * from no_such_table`.execute(db);
        },
      },
    };
    await expect(migrate(dbA, { schema, migrations: failing })).rejects.toThrow(
      /202611260800_broken.*no_such_table/,
    );
    const res = await sql`select 1 from information_schema.tables
      where table_schema = ${schema} and table_name = 'half_done'`.execute(dbA);
    expect(res.rows).toHaveLength(0);
  });

  it('waits for the schema advisory lock held by another session', async () => {
    const key = `drover:migrate:${schema}`;
    await dbB.connection().execute(async (holder) => {
      await sql`select pg_advisory_lock(hashtext(${key}))`.execute(holder);
      let settled = false;
      const current = { ...migrations, '202611260700_more': recording('202611260700_more') };
      const running = migrate(dbA, { schema, migrations: current }).finally(() => {
        settled = true;
      });
      // The migrator's session shows up as waiting on an advisory lock.
      await waitFor(async () => {
        const res = await sql<{ n: number }>`select count(*)::int as n from pg_locks
          where locktype = 'advisory' and not granted`.execute(dbB);
        return (res.rows[0]?.n ?? 0) > 0;
      });
      expect(settled).toBe(false);
      await sql`select pg_advisory_unlock(hashtext(${key}))`.execute(holder);
      await expect(running).resolves.toEqual([]);
    });
  });

  it('rejects migration names that would not sort by time', async () => {
    await expect(
      migrate(dbA, { schema, migrations: { ...migrations, '2026_oops': recording('x') } }),
    ).rejects.toThrow(/YYYYMMDDHHmm_what: 2026_oops/);
  });

  it('rejects a schema name that is not a plain identifier', async () => {
    await expect(migrate(dbA, { schema: 'x; drop table y', migrations })).rejects.toThrow(
      /invalid schema name/,
    );
  });
});
