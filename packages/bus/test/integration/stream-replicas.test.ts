// NATS_REPLICAS against a real three-node JetStream cluster of the test's own: streams, the
// session-ledger-style key-value bucket and the upload-style object store are created with the
// count asked for, brought to it when they exist, and left alone when it is unset (an operator's
// `nats stream edit --replicas 3` used to be written back to 1 at the next service start).
import { nanos } from 'nats';
import {
  cleanupNamespace,
  type PrivateNatsCluster,
  startPrivateNatsCluster,
  testNamespace,
  withTestBus,
} from '@drover/testing';
import { connectBus, ensureStoreReplicas, ensureStreams, streamConfigs, type Bus } from '../../src';
import { ensureDurable } from '../../src/consumer-config';
import { testLogger } from './helpers';

describe('stream replicas on a JetStream cluster', () => {
  let cluster: PrivateNatsCluster;
  const buses: Bus[] = [];

  const open = async (ns: string, replicas?: number): Promise<Bus> => {
    const bus = await connectBus({
      url: cluster.url,
      name: 'replicas-test',
      logger: testLogger,
      namespace: ns,
      ...(replicas !== undefined && { replicas }),
    });
    buses.push(bus);
    return bus;
  };
  const counts = async (bus: Bus): Promise<number[]> =>
    Promise.all(
      Object.values(streamConfigs(bus.naming)).map(
        async (c) => (await bus.jsm.streams.info(c.name)).config.num_replicas,
      ),
    );

  beforeAll(async () => {
    cluster = await startPrivateNatsCluster({ nodes: 3 });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await cluster?.destroy();
  });

  it('creates every stream with the count, and a start without the setting keeps it', async () => {
    const ns = testNamespace('repl');
    await ensureStreams(await open(ns, 3));
    const unset = await open(ns);
    expect(await counts(unset)).toEqual([3, 3, 3, 3, 3]);
    // A service started without NATS_REPLICAS (and so an operator's edit) leaves the count.
    await ensureStreams(unset);
    expect(await counts(unset)).toEqual([3, 3, 3, 3, 3]);
  }, 60_000);

  it('creates with the server default when unset and raises existing streams to the setting', async () => {
    const ns = testNamespace('repl');
    const unset = await open(ns);
    await ensureStreams(unset);
    expect(await counts(unset)).toEqual([1, 1, 1, 1, 1]);
    const three = await open(ns, 3);
    await ensureStreams(three);
    expect(await counts(three)).toEqual([3, 3, 3, 3, 3]);
  }, 60_000);

  it('recreates a stream a consumer needs with the count', async () => {
    const ns = testNamespace('repl');
    const three = await open(ns, 3);
    const events = streamConfigs(three.naming).EVENTS.name;
    await ensureDurable(three, {
      streamName: events,
      stream: 'EVENTS',
      durable: 'replicas-test',
      serverFilters: [],
      maxDeliver: 5,
      ackWaitMs: 30_000,
      maxAckPending: 100,
    });
    expect((await three.jsm.streams.info(events)).config.num_replicas).toBe(3);
  }, 60_000);

  it('brings a key-value bucket and an object store made before to the setting', async () => {
    const ns = testNamespace('repl');
    const unset = await open(ns);
    const bucket = unset.naming.stream('LEDGER');
    await unset.js.views.kv(bucket, { history: 1 });
    await unset.js.views.os(bucket, { ttl: nanos(60_000) });
    expect(await ensureStoreReplicas(unset, 'kv', bucket)).toBe(1);
    expect(await ensureStoreReplicas(unset, 'os', bucket)).toBe(1);
    const three = await open(ns, 3);
    expect(await ensureStoreReplicas(three, 'kv', bucket)).toBe(3);
    expect(await ensureStoreReplicas(three, 'os', bucket)).toBe(3);
    expect((await three.jsm.streams.info(`KV_${bucket}`)).config.num_replicas).toBe(3);
    const os = await three.jsm.streams.info(`OBJ_${bucket}`);
    // The rest of the configuration (the upload TTL) is kept.
    expect(os.config).toMatchObject({ num_replicas: 3, max_age: nanos(60_000) });
    // Still usable after the change.
    const kv = await three.js.views.kv(bucket);
    await kv.put('member', new TextEncoder().encode('x'));
    expect((await kv.get('member'))?.string()).toBe('x');
  }, 60_000);

  it('creates a key-value bucket with the count, usable at once', async () => {
    const three = await open(testNamespace('repl'), 3);
    const bucket = three.naming.stream('LEDGER');
    const kv = await three.js.views.kv(bucket, { history: 1, replicas: 3 });
    expect(await ensureStoreReplicas(three, 'kv', bucket)).toBe(3);
    await kv.put('member', new TextEncoder().encode('y'));
    expect((await kv.get('member'))?.string()).toBe('y');
  }, 60_000);
});

describe('stream replicas on a single server', () => {
  it('refuses more than one replica with the server reason', async () => {
    const ns = testNamespace('repl');
    const shared = await withTestBus(ns, { ensureStreams: false });
    try {
      const bus: Bus = { ...shared, replicas: 3 };
      await expect(ensureStreams(bus)).rejects.toThrow(/replicas/i);
    } finally {
      await cleanupNamespace(ns, { bus: shared, redisUrl: null });
      await shared.close();
    }
  });
});
