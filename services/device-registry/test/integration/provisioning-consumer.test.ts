// provisioning.completed → the device exists (idempotently), with its certificate summary.
import { publish } from '@drover/bus';
import {
  createEvent,
  DeviceRegistryOps as Ops,
  eventSubject,
  ProvisioningCompletedV1,
} from '@drover/contracts';
import { waitFor } from '@drover/testing';
import { type Harness, startHarness } from './registry.harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('reg_prov');
}, 30_000);
afterAll(() => h.close());

const completed = (serial: string) =>
  createEvent(ProvisioningCompletedV1, {
    tenant: 'acme',
    source: 'provisioning',
    subject: 'd-prov-1',
    data: {
      tenant: 'acme',
      device_id: 'd-prov-1',
      device_type: 'sensor',
      hardware_id_hash: 'ab'.repeat(32),
      enrollment_id: 'e-1',
      reprovisioned: serial !== '01',
      certificate: {
        serial,
        fingerprint_sha256: 'cd'.repeat(32),
        not_before: '2026-11-26T07:00:00.000Z',
        not_after: '2027-02-24T07:00:00.000Z',
      },
    },
  });

describe('provisioning.completed', () => {
  it('registers the device once and keeps its certificate summary current', async () => {
    const first = completed('01');
    const subject = eventSubject(h.bus.naming, 'acme', 'provisioning', 'completed');
    await publish(h.bus, subject, first, { msgId: first.id });
    const registered = await h.waitEvent('drover.device.registered.v1', 'd-prov-1');
    expect((registered.body as { data: { hardware_id_hash: string } }).data.hardware_id_hash).toBe(
      'ab'.repeat(32),
    );
    const again = completed('02');
    await publish(h.bus, subject, again, { msgId: again.id });
    const device = await waitFor(async () => {
      const d = await h.rpc<{ certificate: { serial: string } | null }>(Ops.getDevice, {
        tenant: 'acme',
        device_id: 'd-prov-1',
      });
      return d.certificate?.serial === '02' && d;
    });
    expect(device).toMatchObject({ device_type: 'sensor', status: 'active' });
    const registrations = h.events.filter(
      (e) => (e.body as { type: string }).type === 'drover.device.registered.v1',
    );
    expect(registrations).toHaveLength(1);
  });
});
