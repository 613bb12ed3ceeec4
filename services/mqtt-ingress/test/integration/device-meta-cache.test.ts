// The ingress' device-meta cache against the real device registry on NATS: registration and
// decommission events take effect at once, expired entries are served while one refresh runs,
// concurrent misses share one RPC, and a registry outage keeps known devices flowing for a
// bounded time.
import { type Bus, rpcRequest } from '@drover/bus';
import { type DeviceTopic, deviceSubject, eventFilter, rpcSubject } from '@drover/contracts';
import { createLogger } from '@drover/observability';
import {
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  testNamespace,
  waitFor,
  withTestBus,
} from '@drover/testing';
import { startDeviceRegistry } from '../../../device-registry/src/app';
import {
  type DeviceMetaCache,
  type DeviceMetaCacheOptions,
  createDeviceMetaCache,
} from '../../src/adapters/registry/device-meta.cache';
import {
  type DeviceEventsConsumer,
  startDeviceEvents,
} from '../../src/adapters/nats/device-events.consumer';
import { checkDevice } from '../../src/domain/device-check';
import { type Pipeline, startPipeline } from './pipeline.harness';

jest.setTimeout(120_000);

const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const tenant = 'acme';
const topicOf = (deviceId: string): DeviceTopic => ({
  tenant,
  deviceType: 'sensor',
  deviceId,
  channel: 'telemetry',
});

describe('device-meta cache with the real registry', () => {
  const ns = testNamespace('metacache');
  const registrySchema = `${ns}_reg`;
  let bus: Bus;
  let registry: Awaited<ReturnType<typeof startDeviceRegistry>> | null = null;
  let rpcCalls: string[] = [];
  /** The ids of each `get_devices_meta` call. */
  let batchCalls: string[][] = [];
  const deviceEvents: string[] = [];
  const consumers: DeviceEventsConsumer[] = [];
  let clock = 1_000_000;

  const create = (id: string) =>
    rpcRequest(bus, 'device-registry', 'create_device', {
      tenant,
      device_id: id,
      device_type: 'sensor',
      hardware_id: `hw-${id}`,
    });

  /** A cache on a fake clock (advanced by hand), with its event consumer. */
  function makeCache(opts: Partial<DeviceMetaCacheOptions> = {}): DeviceMetaCache {
    const cache = createDeviceMetaCache(bus, {
      ttlMs: 60_000,
      negativeTtlMs: 60_000,
      max: 1000,
      now: () => clock,
      ...opts,
    });
    consumers.push(startDeviceEvents(bus, cache, silent));
    return cache;
  }

  /** RPCs for one device seen on the wire so far (after a round trip to the server). */
  async function callsFor(deviceId: string): Promise<number> {
    await bus.nc.flush();
    return rpcCalls.filter((id) => id === deviceId).length;
  }

  beforeAll(async () => {
    bus = await withTestBus(ns);
    registry = await startDeviceRegistry(
      {
        NATS_URL: TEST_NATS_URL,
        DATABASE_URL: TEST_DATABASE_URL,
        REDIS_URL: TEST_REDIS_URL,
        DROVER_NAMESPACE: ns,
        DB_SCHEMA: registrySchema,
        DB_POOL_MAX: 3,
      },
      { logger: silent, ensureStreams: false },
    );
    // Every device looked up at the registry, as it sees the requests (a batch's ids each).
    bus.nc.subscribe(rpcSubject(bus.naming, 'device-registry', 'get_device_meta'), {
      callback: (_err, msg) => {
        const body = msg.json<{ device_id?: string }>();
        rpcCalls.push(String(body.device_id));
      },
    });
    bus.nc.subscribe(rpcSubject(bus.naming, 'device-registry', 'get_devices_meta'), {
      callback: (_err, msg) => {
        const body = msg.json<{ device_ids: string[] }>();
        batchCalls.push(body.device_ids);
        rpcCalls.push(...body.device_ids);
      },
    });
    // Device events seen on the bus (device ids), to start a case after its setup's events.
    bus.nc.subscribe(eventFilter(bus.naming, { aggregate: 'device' }), {
      callback: (_err, msg) => deviceEvents.push(String(msg.json<{ subject?: string }>().subject)),
    });
    // The registry's RPC subscription reaches the server asynchronously: the first call waits.
    await waitFor(() => create('d0'), { timeoutMs: 10_000 });
  });

  afterEach(() => {
    for (const c of consumers.splice(0)) c.stop();
    rpcCalls = [];
    batchCalls = [];
  });

  afterAll(async () => {
    await registry?.stop();
    const regDb = await createTestDb(registrySchema);
    await dropTestDb(regDb, registrySchema);
    await cleanupNamespace(ns, { bus });
    await bus.close();
  });

  it('accepts a device registered after a refusal as soon as its event arrives', async () => {
    const cache = makeCache();
    await bus.nc.flush(); // the event subscriptions are in place
    const before = await cache.get(tenant, 'late1');
    expect(before).toBeNull();
    expect(checkDevice(topicOf('late1'), before)).toBe('unknown_device');
    // The negative entry is cached (60 s on a clock that does not move): only the event helps.
    expect(await cache.get(tenant, 'late1')).toBeNull();
    expect(await callsFor('late1')).toBe(1);

    await create('late1');
    const meta = await waitFor(() => cache.get(tenant, 'late1'), { timeoutMs: 15_000 });
    expect(meta).toEqual({ deviceId: 'late1', tenant, deviceType: 'sensor', status: 'active' });
    expect(consumers[0]?.applied()).toBeGreaterThanOrEqual(1);
  });

  it('refuses a decommissioned device as soon as its event arrives', async () => {
    await create('gone1');
    const cache = makeCache();
    await bus.nc.flush();
    expect((await cache.get(tenant, 'gone1'))?.status).toBe('active');

    await rpcRequest(bus, 'device-registry', 'decommission_device', {
      tenant,
      device_id: 'gone1',
      reason: 'test',
    });
    // The fresh positive entry would live 60 s on this clock: the event alone changes it.
    const meta = await waitFor(
      async () => {
        const m = await cache.get(tenant, 'gone1');
        return m?.status === 'decommissioned' ? m : null;
      },
      { timeoutMs: 15_000 },
    );
    expect(checkDevice(topicOf('gone1'), meta)).toBe('decommissioned');
  });

  it('makes one RPC for many concurrent misses, and one refresh for a stale entry', async () => {
    await create('sf1');
    // Its registration event must not overtake the lookups below (it would repeat them).
    await waitFor(() => deviceEvents.includes('sf1'));
    const cache = makeCache({ ttlMs: 1000 });
    const results = await Promise.all(Array.from({ length: 50 }, () => cache.get(tenant, 'sf1')));
    expect(new Set(results.map((r) => r?.deviceId))).toEqual(new Set(['sf1']));
    expect(await callsFor('sf1')).toBe(1);

    // Expired: every caller gets the entry at once; a single lookup refreshes it behind them.
    clock += 5000;
    const stale = await Promise.all(Array.from({ length: 50 }, () => cache.get(tenant, 'sf1')));
    expect(stale.every((m) => m?.status === 'active')).toBe(true);
    await waitFor(async () => (await callsFor('sf1')) >= 2);
    // Refreshed: fresh again, no further lookups.
    await waitFor(async () => {
      await cache.get(tenant, 'sf1');
      return (await callsFor('sf1')) === 2;
    });
    await Promise.all(Array.from({ length: 20 }, () => cache.get(tenant, 'sf1')));
    expect(await callsFor('sf1')).toBe(2);

    // Concurrent misses of an unknown device share one lookup too; its short TTL then ends.
    const unknown = makeCache({ negativeTtlMs: 1000 });
    const nulls = await Promise.all(Array.from({ length: 30 }, () => unknown.get(tenant, 'nx')));
    expect(nulls.every((m) => m === null)).toBe(true);
    expect(await callsFor('nx')).toBe(1);
    clock += 1500;
    expect(await unknown.get(tenant, 'nx')).toBeNull();
    expect(await callsFor('nx')).toBe(2);
  });

  // Known devices found, unknown ones null.
  it('looks the misses of one turn up in one call', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `storm${i}`);
    for (const id of ids) await create(id);
    await waitFor(() => ids.every((id) => deviceEvents.includes(id)));
    const cache = makeCache();
    const asked = [...ids, 'storm-unknown'];
    const metas = await Promise.all(asked.map((id) => cache.get(tenant, id)));
    expect(metas.map((m) => m?.deviceId ?? null)).toEqual([...ids, null]);
    expect(batchCalls).toEqual([asked]);
    // Cached now: no further calls, also for the unknown device (its negative entry).
    await Promise.all(asked.map((id) => cache.get(tenant, id)));
    await bus.nc.flush();
    expect(batchCalls).toHaveLength(1);
  });

  // Last: stops the registry.
  it('serves known devices from stale entries during a registry outage, for a bounded time', async () => {
    await create('out1');
    await waitFor(() => deviceEvents.includes('out1'));
    const errors: unknown[] = [];
    const cache = makeCache({
      ttlMs: 1000,
      staleMaxMs: 60_000,
      timeoutMs: 1000,
      onRefreshError: (err) => errors.push(err),
    });
    expect((await cache.get(tenant, 'out1'))?.status).toBe('active');

    await registry?.stop();
    registry = null;
    clock += 10_000;
    // Stale and the registry gone: still served, and the failed refresh is reported.
    expect((await cache.get(tenant, 'out1'))?.status).toBe('active');
    await waitFor(() => errors.length > 0, { timeoutMs: 15_000 });
    expect((await cache.get(tenant, 'out1'))?.deviceId).toBe('out1');
    // A device the cache never saw cannot be vouched for.
    await expect(cache.get(tenant, 'never1')).rejects.toThrow(/device-registry/);
    // Past the bound, the outage surfaces.
    clock += 60_000;
    await expect(cache.get(tenant, 'out1')).rejects.toThrow(/device-registry/);
  });
});

describe('the ingress and device events (whole pipeline)', () => {
  let p: Pipeline;

  beforeAll(async () => {
    // Entries that would outlive the test: only the events can change the ingress' answers.
    p = await startPipeline({
      label: 'metaevt',
      devices: 1,
      ingestEnv: false,
      ingressEnv: { META_CACHE_TTL_MS: '600000', META_CACHE_NEGATIVE_TTL_MS: '600000' },
    });
  });
  afterAll(async () => {
    await p?.stop();
  });

  const rejectedBy = async (reason: string): Promise<number> => {
    const metric = p.ingress.metrics.registry.getSingleMetric(
      'drover_ingress_messages_rejected_total',
    );
    const values = metric ? (await metric.get()).values : [];
    return values.filter((v) => v.labels.reason === reason).reduce((a, v) => a + v.value, 0);
  };
  const status = (n: number) =>
    JSON.stringify({
      msg_id: `s${n}`,
      ts: Date.now(),
      schema_version: 1,
      state: 'online',
      firmware_version: '1.0.0',
    });
  const presenceOf = async (deviceId: string) => {
    const subject = deviceSubject(p.bus.naming, 'presence', p.tenant, deviceId);
    const info = await p.bus.jsm.streams.info(p.bus.naming.stream('DEVICE'), {
      subjects_filter: subject,
    });
    return info.state.subjects?.[subject] ?? 0;
  };

  it("accepts a new device's status right after its registration, refused just before", async () => {
    const device = await p.connectDevice('fresh1');
    await device.publishAsync(p.topic('fresh1', 'status'), status(0), { qos: 1 });
    await waitFor(async () => (await rejectedBy('unknown_device')) >= 1, { timeoutMs: 20_000 });
    expect(await presenceOf('fresh1')).toBe(0);

    await rpcRequest(p.bus, 'device-registry', 'create_device', {
      tenant: p.tenant,
      device_id: 'fresh1',
      device_type: 'sensor',
      hardware_id: 'hw-fresh1',
    });
    // The device retries as a real one would; accepted once the event reached the ingress
    // (the negative answer would otherwise be kept for 10 minutes).
    let n = 1;
    await waitFor(
      async () => {
        await device.publishAsync(p.topic('fresh1', 'status'), status(n), { qos: 1 });
        n += 1;
        return (await presenceOf('fresh1')) > 0;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(await presenceOf('fresh1')).toBeGreaterThan(0);
    expect(await rejectedBy('schema')).toBe(0);
  });

  it('refuses a decommissioned device right after its decommission', async () => {
    const device = await p.connectDevice('d0');
    await device.publishAsync(p.topic('d0', 'status'), status(100), { qos: 1 });
    await waitFor(async () => (await presenceOf('d0')) > 0, { timeoutMs: 20_000 });

    await rpcRequest(p.bus, 'device-registry', 'decommission_device', {
      tenant: p.tenant,
      device_id: 'd0',
    });
    let n = 101;
    await waitFor(
      async () => {
        await device.publishAsync(p.topic('d0', 'status'), status(n), { qos: 1 });
        n += 1;
        return (await rejectedBy('decommissioned')) > 0;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(await rejectedBy('decommissioned')).toBeGreaterThan(0);
    expect(await rejectedBy('schema')).toBe(0);
  });
});

describe('device-meta cache with a registry older than get_devices_meta', () => {
  const ns = testNamespace('metaold');
  let bus: Bus;
  const asked: string[] = [];

  beforeAll(async () => {
    bus = await withTestBus(ns);
    // Answers `get_device_meta` alone, as a registry of an earlier version did.
    bus.nc.subscribe(rpcSubject(bus.naming, 'device-registry', 'get_device_meta'), {
      callback: (_err, msg) => {
        const { device_id } = msg.json<{ device_id: string }>();
        asked.push(device_id);
        const reply = device_id.startsWith('old')
          ? { result: { device_id, tenant, device_type: 'sensor', status: 'active' } }
          : { error: { code: 'device_not_found', status: 404, detail: `no device ${device_id}` } };
        msg.respond(new TextEncoder().encode(JSON.stringify(reply)));
      },
    });
    await bus.nc.flush();
  });
  afterAll(async () => {
    await cleanupNamespace(ns, { bus });
    await bus.close();
  });

  it('asks device by device when the batch call has no responder', async () => {
    const cache = createDeviceMetaCache(bus, { ttlMs: 60_000, max: 100 });
    const metas = await Promise.all(['old1', 'old2', 'gone'].map((id) => cache.get(tenant, id)));
    expect(metas.map((m) => m?.deviceType ?? null)).toEqual(['sensor', 'sensor', null]);
    expect([...asked].sort()).toEqual(['gone', 'old1', 'old2']);
  });
});
