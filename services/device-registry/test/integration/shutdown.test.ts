// Graceful stop: intake stops first (no RPC answers), and what was committed is still
// published from the outbox before the connections close.
import { enqueueEvents, rpcRequest } from '@drover/bus';
import { type Kysely } from 'kysely';
import {
  createEvent,
  DEVICE_REGISTRY_SERVICE,
  DeviceDecommissionedV1,
  DeviceRegistryOps as Ops,
} from '@drover/contracts';
import { type Harness, startHarness } from './registry.harness';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('reg_stop', { OUTBOX_POLL_MS: 60_000 });
});
afterAll(async () => {
  await h.close();
});

it('stop() flushes the outbox and then answers no more requests', async () => {
  await h.rpc(Ops.createDevice, {
    tenant: 'acme',
    device_id: 'last-1',
    device_type: 'sensor',
    hardware_id: 'HW-LAST-1',
  });
  await h.waitEvent('drover.device.registered.v1', 'last-1');
  // A row committed without a nudge to the relay (as if its notify was lost): with a 60 s poll,
  // only the flush at stop can publish it.
  const orphan = createEvent(DeviceDecommissionedV1, {
    tenant: 'acme',
    source: 'device-registry',
    subject: 'last-1',
    data: { device_id: 'last-1', decommissioned_at: new Date().toISOString() },
  });
  await enqueueEvents(h.db as unknown as Kysely<unknown>, [orphan]);
  await h.registry.stop();
  await h.waitEvent('drover.device.decommissioned.v1', 'last-1');
  const pending = await h.db
    .selectFrom('outbox' as never)
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('sent_at' as never, 'is', null)
    .executeTakeFirst();
  expect(Number((pending as { n: string } | undefined)?.n)).toBe(0);
  await expect(
    rpcRequest(
      h.bus,
      DEVICE_REGISTRY_SERVICE,
      Ops.getDevice,
      { tenant: 'acme', device_id: 'last-1' },
      {
        timeoutMs: 500,
      },
    ),
  ).rejects.toMatchObject({ status: 503, code: 'service_unavailable' });
});
