import { DiscardPolicy, RetentionPolicy, StorageType } from 'nats';
import { cleanupNamespace, testNamespace, withTestBus } from '@drover/testing';
import { deleteStreams, ensureStreams, streamConfigs, type Bus } from '../../src';

const DAY_NS = 24 * 60 * 60 * 1e9;

describe('streams', () => {
  const ns = testNamespace('streams');
  let bus: Bus;

  beforeAll(async () => {
    bus = await withTestBus(ns, { ensureStreams: false });
  });

  afterAll(async () => {
    await cleanupNamespace(ns, { bus, redisUrl: null });
    await bus.close();
  });

  it('creates the five streams with the architecture limits under the namespace', async () => {
    await ensureStreams(bus, { telemetryMaxBytes: 32 * 1024 * 1024 });
    const prefix = ns.toUpperCase();
    const events = await bus.jsm.streams.info(`${prefix}_EVENTS`);
    expect(events.config).toMatchObject({
      subjects: [`${ns}.iot.evt.>`],
      storage: StorageType.File,
      max_age: 7 * DAY_NS,
      duplicate_window: 2 * 60 * 1e9,
    });
    const telemetry = await bus.jsm.streams.info(`${prefix}_TELEMETRY`);
    expect(telemetry.config).toMatchObject({
      subjects: [`${ns}.iot.telemetry.>`],
      max_age: DAY_NS,
      max_bytes: 32 * 1024 * 1024,
      discard: DiscardPolicy.Old,
    });
    const commands = await bus.jsm.streams.info(`${prefix}_COMMANDS`);
    expect(commands.config.retention).toBe(RetentionPolicy.Workqueue);
    expect(commands.config.subjects).toEqual([`${ns}.iot.cmd.>`, `${ns}.iot.desired.>`]);
    const device = await bus.jsm.streams.info(`${prefix}_DEVICE`);
    expect(device.config.max_age).toBe(7 * DAY_NS);
    const dlq = await bus.jsm.streams.info(`${prefix}_DLQ`);
    expect(dlq.config).toMatchObject({ subjects: [`${ns}.iot.dlq.>`], max_age: 30 * DAY_NS });
  });

  it('is idempotent and updates a stream whose config drifted', async () => {
    const name = streamConfigs(bus.naming).TELEMETRY.name;
    await ensureStreams(bus, { telemetryMaxBytes: 32 * 1024 * 1024 });
    const before = await bus.jsm.streams.info(name);
    await ensureStreams(bus, { telemetryMaxBytes: 48 * 1024 * 1024 });
    const after = await bus.jsm.streams.info(name);
    expect(before.config.max_bytes).toBe(32 * 1024 * 1024);
    expect(after.config.max_bytes).toBe(48 * 1024 * 1024);
    expect(after.created).toBe(before.created);
  });

  it('deleteStreams removes every stream of the namespace', async () => {
    await deleteStreams(bus);
    const left: string[] = [];
    for await (const n of bus.jsm.streams.names()) if (n.startsWith(ns.toUpperCase())) left.push(n);
    expect(left).toEqual([]);
  });
});
