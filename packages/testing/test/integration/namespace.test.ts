import Redis from 'ioredis';
import { jwtVerify, createRemoteJWKSet } from 'jose';
import { sql } from 'kysely';
import { namespace } from '@drover/contracts';
import {
  cleanupNamespace,
  createTestAuth,
  createTestDb,
  dropTestDb,
  TEST_REDIS_URL,
  testNamespace,
  withTestBus,
} from '../../src';

describe('cleanupNamespace', () => {
  it("deletes the namespace's streams and Redis keys and nothing else", async () => {
    const ns = testNamespace('cleanup');
    const other = testNamespace('cleanup_other');
    const redis = new Redis(TEST_REDIS_URL);
    const bus = await withTestBus(ns);
    try {
      const mine = namespace(ns);
      for (let i = 0; i < 30; i++) await redis.set(mine.redisKey('device', `d${i}`), '1');
      await redis.set(namespace(other).redisKey('device', 'd1'), '1');
      const store = await bus.js.views.os(mine.stream('UPLOADS'));
      await store.putBlob({ name: 'image' }, new Uint8Array([1, 2, 3]));
      await cleanupNamespace(ns, { redis });
      const streams: string[] = [];
      for await (const n of bus.jsm.streams.names()) streams.push(n);
      const left = streams.filter((n) => n.replace(/^OBJ_/, '').startsWith(`${ns.toUpperCase()}_`));
      expect(left).toEqual([]);
      expect(await redis.keys(`${ns}:*`)).toEqual([]);
      expect(await redis.get(namespace(other).redisKey('device', 'd1'))).toBe('1');
    } finally {
      await redis.del(namespace(other).redisKey('device', 'd1'));
      redis.disconnect();
      await bus.close();
    }
  });
});

describe('createTestDb / dropTestDb', () => {
  it('creates the schema as search_path and drops it', async () => {
    const schema = `${testNamespace('db')}_s`;
    const db = await createTestDb(schema);
    const probe = await createTestDb(`${schema}_probe`);
    try {
      await sql`create table thing (id int)`.execute(db);
      const where = await sql<{ table_schema: string }>`
        select table_schema from information_schema.tables where table_name = 'thing'
          and table_schema = ${schema}`.execute(db);
      expect(where.rows).toEqual([{ table_schema: schema }]);
      await dropTestDb(db, schema);
      const left = await sql<{ n: number }>`
        select count(*)::int as n from information_schema.schemata where schema_name = ${schema}
      `.execute(probe);
      expect(left.rows[0]!.n).toBe(0);
    } finally {
      await dropTestDb(probe, `${schema}_probe`);
    }
  });
});

describe('createTestAuth', () => {
  it('signs ES256 tokens that verify against its JWKS with iss/aud defaults', async () => {
    const auth = await createTestAuth();
    try {
      const token = await auth.sign({ sub: 'u1', tenant: 'acme', scope: 'devices:read' });
      const jwks = createRemoteJWKSet(new URL(auth.jwksUrl));
      const { payload, protectedHeader } = await jwtVerify(token, jwks, {
        issuer: auth.issuer,
        audience: auth.audience,
      });
      expect(protectedHeader.alg).toBe('ES256');
      expect(payload).toMatchObject({ sub: 'u1', tenant: 'acme', scope: 'devices:read' });
      expect(auth.jwksRequests()).toBe(1);
      const wrongAud = await auth.sign({ sub: 'u1' }, { audience: 'someone-else' });
      await expect(
        jwtVerify(wrongAud, jwks, { issuer: auth.issuer, audience: auth.audience }),
      ).rejects.toThrow();
    } finally {
      await auth.close();
    }
  });
});
