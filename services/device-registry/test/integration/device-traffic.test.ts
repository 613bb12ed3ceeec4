// Presence and reported state published onto the DEVICE stream (as the ingress does) change
// connectivity, last_seen, firmware and reported state, and emit the matching events.
import { publish } from '@drover/bus';
import {
  type Device,
  DeviceRegistryOps as Ops,
  type DeviceState,
  deviceSubject,
  newUlid,
} from '@drover/contracts';
import { waitFor } from '@drover/testing';
import { type Harness, startHarness } from './registry.harness';

let h: Harness;
const T = 'acme';
const COALESCE_S = 30;
const t0 = Date.parse('2026-11-26T06:00:00.000Z');

beforeAll(async () => {
  h = await startHarness('reg_traffic', { LAST_SEEN_COALESCE_S: COALESCE_S });
});
afterAll(async () => {
  await h.close();
});

const presence = (deviceId: string, state: 'online' | 'offline', tsMs: number, extra = {}) =>
  h.presence(T, deviceId, state, tsMs, extra);

async function reported(deviceId: string, state: Record<string, unknown>, tsMs: number) {
  await publish(
    h.bus,
    deviceSubject(h.bus.naming, 'state_reported', T, deviceId),
    {
      msg_id: newUlid(),
      ts: new Date(tsMs).toISOString(),
      schema_version: 1,
      state,
      tenant: T,
      device_type: 'sensor',
      device_id: deviceId,
      received_at: new Date(tsMs).toISOString(),
    },
    { msgId: newUlid() },
  );
}

const device = (id: string) => h.rpc<Device>(Ops.getDevice, { tenant: T, device_id: id });
const countOf = (type: string, subject: string) =>
  h.events.filter(
    (e) =>
      (e.body as { type: string }).type === type &&
      (e.body as { subject: string }).subject === subject,
  ).length;

describe('presence', () => {
  beforeAll(async () => {
    await h.rpc(Ops.createDevice, {
      tenant: T,
      device_id: 'p1',
      device_type: 'sensor',
      hardware_id: 'HW-P1',
    });
  });

  it('online connects, sets last_seen, firmware and model, emits connected + updated', async () => {
    await presence('p1', 'online', t0, { firmware_version: '1.0.0', hardware_model: 'rev-a' });
    const ev = await h.waitEvent('drover.device.connected.v1', 'p1');
    expect((ev.body as { data: unknown }).data).toEqual({
      device_id: 'p1',
      at: new Date(t0).toISOString(),
      firmware_version: '1.0.0',
    });
    const upd = await h.waitEvent('drover.device.updated.v1', 'p1');
    expect((upd.body as { data: { changes: unknown } }).data.changes).toEqual({
      firmware_version: '1.0.0',
      hardware_model: 'rev-a',
    });
    // The change invalidated the cache: the RPC sees it at once.
    expect(await device('p1')).toMatchObject({
      connectivity: 'online',
      last_seen: new Date(t0).toISOString(),
      firmware_version: '1.0.0',
      hardware_model: 'rev-a',
    });
  });

  it('ignores presence older than the last applied one', async () => {
    const before = await h.outcomes('presence', 'out_of_order');
    await presence('p1', 'offline', t0 - 1000);
    await waitFor(async () => (await h.outcomes('presence', 'out_of_order')) === before + 1);
    expect((await device('p1')).connectivity).toBe('online');
    expect(countOf('drover.device.disconnected.v1', 'p1')).toBe(0);
  });

  it('coalesces repeated online inside the window (no write, no event)', async () => {
    const before = await h.outcomes('presence', 'coalesced');
    await presence('p1', 'online', t0 + 1000, { firmware_version: '1.0.0' });
    await waitFor(async () => (await h.outcomes('presence', 'coalesced')) === before + 1);
    expect((await device('p1')).last_seen).toBe(new Date(t0).toISOString());
    expect(countOf('drover.device.connected.v1', 'p1')).toBe(1);
  });

  it('offline disconnects with device time; online again connects once more', async () => {
    await presence('p1', 'offline', t0 + 5000);
    await h.waitEvent('drover.device.disconnected.v1', 'p1');
    expect(await device('p1')).toMatchObject({
      connectivity: 'offline',
      last_seen: new Date(t0 + 5000).toISOString(),
    });
    await presence('p1', 'online', t0 + 9000, { firmware_version: '1.1.0' });
    await h.waitEvent('drover.device.connected.v1', 'p1', 2);
    await h.waitEvent('drover.device.updated.v1', 'p1', 2);
    expect(await device('p1')).toMatchObject({ connectivity: 'online', firmware_version: '1.1.0' });
  });

  it('orders by receipt: a quick reboot whose online has an older device time than the will', async () => {
    // The ingress stamps the will (no device time) with its receipt; the device's `online`
    // right after its reboot carries its own, earlier clock but is received later.
    await presence('p1', 'offline', t0 + 12_000);
    await h.waitEvent('drover.device.disconnected.v1', 'p1', 2);
    await presence('p1', 'online', t0 + 11_500, {
      firmware_version: '1.2.0',
      received_at: new Date(t0 + 12_500).toISOString(),
    });
    await h.waitEvent('drover.device.connected.v1', 'p1', 3);
    expect(await device('p1')).toMatchObject({ connectivity: 'online', firmware_version: '1.2.0' });
  });

  it('a presence of an unknown device is dead-lettered with a reason, and the consumer goes on', async () => {
    await presence('ghost', 'online', t0, { firmware_version: '1.0.0' });
    const rec = (await waitFor(() =>
      h.dlq.find((m) => (m.body as { subject: string }).subject.endsWith('.presence.ghost')),
    )) as { body: { reason: string; error_code: string; consumer: string } };
    expect(rec.body.error_code).toBe('device_not_found');
    expect(rec.body.reason).toMatch(/permanent_error/);
    expect(rec.body.consumer).toBe('device-registry-presence');
    // Still consuming.
    await presence('p1', 'offline', t0 + 20_000);
    await h.waitEvent('drover.device.disconnected.v1', 'p1', 2);
  });

  it('an invalid message is dead-lettered as a schema failure', async () => {
    await publish(
      h.bus,
      deviceSubject(h.bus.naming, 'presence', T, 'p1'),
      { tenant: T, device_id: 'p1', state: 'sideways' },
      { msgId: newUlid() },
    );
    const rec = (await waitFor(() =>
      h.dlq.find((m) => (m.body as { error_code: string }).error_code === 'schema'),
    )) as { body: { subject: string } };
    expect(rec.body.subject).toContain('.presence.p1');
  });

  it('a decommissioned device ignores presence', async () => {
    await h.rpc(Ops.createDevice, {
      tenant: T,
      device_id: 'p-dec',
      device_type: 'sensor',
      hardware_id: 'HW-PDEC',
    });
    await h.rpc(Ops.decommissionDevice, { tenant: T, device_id: 'p-dec' });
    const before = await h.outcomes('presence', 'decommissioned');
    await presence('p-dec', 'online', t0, { firmware_version: '1.0.0' });
    await waitFor(async () => (await h.outcomes('presence', 'decommissioned')) === before + 1);
    expect((await device('p-dec')).connectivity).toBe('unknown');
  });
});

describe('reported state', () => {
  beforeAll(async () => {
    await h.rpc(Ops.createDevice, {
      tenant: T,
      device_id: 'r1',
      device_type: 'sensor',
      hardware_id: 'HW-R1',
    });
    await h.rpc(Ops.putDesiredState, {
      tenant: T,
      device_id: 'r1',
      state: { led: 'on', cfg: { rate: 5 } },
    });
  });

  it('merges reports, bumps the version, emits state_changed with the delta, touches last_seen', async () => {
    await reported('r1', { led: 'on', cfg: { rate: 1 }, temp: 20 }, t0);
    const ev = await h.waitEvent('drover.device.state_changed.v1', 'r1', 2);
    expect((ev.body as { data: unknown }).data).toEqual({
      device_id: 'r1',
      kind: 'reported',
      version: 1,
      state: { led: 'on', cfg: { rate: 1 }, temp: 20 },
      delta: { cfg: { rate: 5 } },
    });
    await reported('r1', { cfg: { rate: 5 }, temp: null }, t0 + 1000);
    await h.waitEvent('drover.device.state_changed.v1', 'r1', 3);
    const s = await h.rpc<DeviceState>(Ops.getState, { tenant: T, device_id: 'r1' });
    expect(s.reported).toMatchObject({ version: 2, state: { led: 'on', cfg: { rate: 5 } } });
    expect(s.delta).toEqual({});
    expect((await device('r1')).last_seen).toBe(new Date(t0).toISOString());
  });

  it('an identical report changes nothing', async () => {
    const before = await h.outcomes('state_reported', 'unchanged');
    await reported('r1', { led: 'on' }, t0 + 2000);
    await waitFor(async () => (await h.outcomes('state_reported', 'unchanged')) === before + 1);
    expect(countOf('drover.device.state_changed.v1', 'r1')).toBe(3);
  });

  it('every event seen on EVENTS validates against its schema', () => {
    expect(h.events.filter((e) => !e.parsed.ok)).toEqual([]);
    const types = new Set(h.events.map((e) => (e.body as { type: string }).type));
    expect(types).toEqual(
      new Set([
        'drover.device.registered.v1',
        'drover.device.connected.v1',
        'drover.device.disconnected.v1',
        'drover.device.updated.v1',
        'drover.device.decommissioned.v1',
        'drover.device.state_changed.v1',
      ]),
    );
  });
});
