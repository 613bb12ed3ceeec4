import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { createDb, dropSchema, executePrepared, poolOf } from '../src';

const URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const schema = `t_${randomBytes(4).toString('hex')}_db_create`;

describe('createDb', () => {
  const db = createDb<unknown>({ url: URL, schema, applicationName: 'drover-db-test' });
  const small = createDb<unknown>({ url: URL, schema, poolMin: 1, poolMax: 2 });

  beforeAll(async () => {
    await sql`create schema ${sql.id(schema)}`.execute(db);
  });

  afterAll(async () => {
    await dropSchema(db, schema);
    await db.destroy();
    await small.destroy();
  });

  it('executePrepared: a named statement on the pool, unnamed inside a transaction', async () => {
    const one = createDb<unknown>({ url: URL, schema, poolMin: 1, poolMax: 1 });
    try {
      const q = (n: number) => sql<{ twice: number }>`select ${n}::int * 2 as twice`;
      expect((await executePrepared(one, 'drover_test_twice', q(2))).rows).toEqual([{ twice: 4 }]);
      expect((await executePrepared(one, 'drover_test_twice', q(5))).rows).toEqual([{ twice: 10 }]);
      // The pool's one connection holds it prepared.
      const prepared = await sql<{ name: string }>`
        select name from pg_prepared_statements`.execute(one);
      expect(prepared.rows.map((r) => r.name)).toContain('drover_test_twice');
      const inTrx = await one
        .transaction()
        .execute((trx) => executePrepared(trx, 'drover_test_trx', q(7)));
      expect(inTrx.rows).toEqual([{ twice: 14 }]);
      const after = await sql<{ name: string }>`
        select name from pg_prepared_statements`.execute(one);
      expect(after.rows.map((r) => r.name)).not.toContain('drover_test_trx');

      // A migration changes the table under a prepared `select *`: the call still answers.
      await sql`create table prep_probe (id int)`.execute(one);
      await sql`insert into prep_probe values (1)`.execute(one);
      const all = () => sql<Record<string, unknown>>`select * from prep_probe`;
      expect((await executePrepared(one, 'drover_test_all', all())).rows).toEqual([{ id: 1 }]);
      await sql`alter table prep_probe add column note text`.execute(one);
      expect((await executePrepared(one, 'drover_test_all', all())).rows).toEqual([
        { id: 1, note: null },
      ]);
      // And the next call prepares it again on a fresh connection.
      expect((await executePrepared(one, 'drover_test_all', all())).rows).toEqual([
        { id: 1, note: null },
      ]);
    } finally {
      await one.destroy();
    }
  });

  it('defaults the pool to min 5, max 30 and honours explicit sizes', () => {
    expect(poolOf(db)?.options).toMatchObject({ min: 5, max: 30 });
    expect(poolOf(small)?.options).toMatchObject({ min: 1, max: 2 });
  });

  it('never opens more connections than poolMax', async () => {
    const pool = poolOf(small)!;
    await Promise.all(Array.from({ length: 6 }, () => sql`select pg_sleep(0.05)`.execute(small)));
    expect(pool.totalCount).toBeLessThanOrEqual(2);
    expect(pool.totalCount).toBeGreaterThan(0);
  });

  it('puts the service schema first on search_path and sets application_name', async () => {
    const res = await sql<{ search_path: string; app: string }>`
      select current_setting('search_path') as search_path,
             current_setting('application_name') as app`.execute(db);
    expect(res.rows[0]).toEqual({ search_path: `${schema},public`, app: 'drover-db-test' });
    await sql`create table probe (id int)`.execute(db);
    const where = await sql<{ s: string }>`
      select table_schema as s from information_schema.tables where table_name = 'probe'
        and table_schema = ${schema}`.execute(db);
    expect(where.rows).toEqual([{ s: schema }]);
  });

  it('refuses a schema name that would be spliced into SQL unsafely', () => {
    expect(() => createDb({ url: URL, schema: 'Bad-Name' })).toThrow(/invalid schema name/);
  });
});
