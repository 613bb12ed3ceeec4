import Redis from 'ioredis';
import mqtt from 'mqtt';
import { connect } from 'nats';
import { sql } from 'kysely';
import { createDb } from '@drover/db';
import {
  portAccepts,
  startPrivateMosquitto,
  startPrivateNats,
  startPrivatePostgres,
  startPrivateRedis,
} from '../../src';

// Each helper starts a real server on a free port, and stops it again.

describe('startPrivateNats', () => {
  it('runs JetStream, keeps its store across a restart, and stops', async () => {
    const nats = await startPrivateNats({ jetstream: true });
    try {
      let nc = await connect({ servers: nats.url });
      let jsm = await nc.jetstreamManager();
      await jsm.streams.add({ name: 'KEEP', subjects: ['keep.>'] });
      await nc.close();
      await nats.kill();
      expect(await portAccepts(nats.port)).toBe(false);
      await nats.start();
      nc = await connect({ servers: nats.url });
      jsm = await nc.jetstreamManager();
      expect((await jsm.streams.info('KEEP')).config.subjects).toEqual(['keep.>']);
      await nc.close();
    } finally {
      await nats.destroy();
    }
    expect(await portAccepts(nats.port)).toBe(false);
  });
});

describe('startPrivateRedis', () => {
  it('serves Redis until stopped', async () => {
    const redis = await startPrivateRedis();
    const client = new Redis(redis.url);
    try {
      await client.set('k', 'v');
      expect(await client.get('k')).toBe('v');
    } finally {
      client.disconnect();
      await redis.stop();
    }
    expect(await portAccepts(redis.port)).toBe(false);
  });
});

describe('startPrivateMosquitto', () => {
  it('runs a broker with the extra config and relays messages', async () => {
    const broker = await startPrivateMosquitto({ config: 'max_keepalive 120' });
    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    try {
      const got = new Promise<string>((resolve) =>
        client.on('message', (_topic, payload) => resolve(payload.toString())),
      );
      await client.subscribeAsync('t/1');
      await client.publishAsync('t/1', 'hello');
      expect(await got).toBe('hello');
    } finally {
      await client.endAsync();
      await broker.destroy();
    }
    expect(await portAccepts(broker.port)).toBe(false);
  });
});

describe('startPrivatePostgres', () => {
  it('initdbs a cluster, survives a crash with its data, and stops', async () => {
    const pgServer = await startPrivatePostgres();
    try {
      const open = () => createDb({ url: pgServer.url, schema: 'public', poolMin: 0, poolMax: 1 });
      let db = open();
      await sql`create table t (v int)`.execute(db);
      await sql`insert into t values (42)`.execute(db);
      await db.destroy();
      await pgServer.kill();
      await pgServer.start();
      db = open();
      const res = await sql<{ v: number }>`select v from t`.execute(db);
      expect(res.rows).toEqual([{ v: 42 }]);
      await db.destroy();
    } finally {
      await pgServer.destroy();
    }
    expect(await portAccepts(pgServer.port)).toBe(false);
  }, 60_000);
});
