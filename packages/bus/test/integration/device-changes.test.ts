// watchDeviceChanges on a real NATS server: each followed event names its device, a
// `device.updated` that changes none of the caller's `fields` is not passed on (an unreadable
// `changes` is), every update is passed on without `fields`, and an event that names no device
// means "revalidate everything".
import { eventSubject } from '@drover/contracts';
import { cleanupNamespace, testNamespace, waitFor, withTestBus } from '@drover/testing';
import { type Bus, type DeviceChange, watchDeviceChanges } from '../../src';

describe('watchDeviceChanges', () => {
  const ns = testNamespace('devchg');
  let bus: Bus;

  beforeAll(async () => {
    bus = await withTestBus(ns, { ensureStreams: false });
  });
  afterAll(async () => {
    await cleanupNamespace(ns, { bus });
    await bus.close();
  });

  const publish = (event: string, data: unknown, subject?: string) =>
    bus.nc.publish(
      eventSubject(bus.naming, 'acme', 'device', event),
      JSON.stringify({ ...(subject !== undefined && { subject }), data }),
    );

  function watch(fields?: readonly string[]) {
    const changes: DeviceChange[] = [];
    const lost: string[] = [];
    const w = watchDeviceChanges(
      bus,
      { onChange: (c) => changes.push(c), onLost: (r) => lost.push(r) },
      fields === undefined ? {} : { fields },
    );
    return { w, changes, lost };
  }

  it('passes on only the updates that change a field the caller caches', async () => {
    const meta = watch(['device_type', 'status']);
    const all = watch();
    await bus.nc.flush();
    publish('updated', { device_id: 'fw', changes: { firmware_version: '2.0.0' } }, 'fw');
    publish('updated', { device_id: 'tags', changes: { tags: ['a'], attributes: {} } });
    publish('updated', { device_id: 'type', changes: { device_type: 'gauge' } });
    publish('updated', { device_id: 'odd', changes: 'everything' });
    publish('decommissioned', { device_id: 'gone' });
    publish('registered', {});
    await bus.nc.flush();
    // The last event (no device) ends both lists.
    await waitFor(() => meta.lost.length === 1 && all.lost.length === 1, {
      description: 'all events seen',
    });
    expect(meta.changes.map((c) => [c.deviceId, c.event])).toEqual([
      ['type', 'device.updated'],
      ['odd', 'device.updated'],
      ['gone', 'device.decommissioned'],
    ]);
    expect(all.changes.map((c) => c.deviceId)).toEqual(['fw', 'tags', 'type', 'odd', 'gone']);
    expect(meta.lost[0]).toMatch(/unreadable event/);
    expect(meta.w.seen()).toBe(5);
    meta.w.stop();
    all.w.stop();
  });
});
