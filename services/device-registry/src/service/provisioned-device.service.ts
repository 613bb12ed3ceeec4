// Devices created by zero-touch provisioning (`provisioning.completed`): idempotent. The event
// carries only the hardware id's hash (the registry's own hash), so the device's hardware_id
// column holds `h-<first 62 hex of the hash>` (a valid id, unlikely to collide with a hand-registered one) and
// device.registered repeats the provisioning service's hash. A repeated event (reprovisioning,
// redelivery) refreshes the certificate summary.
import { DeviceRegisteredV1, type ProvisioningCompletedV1 } from '@drover/contracts';
import { type Static } from '@sinclair/typebox';
import { outboxEvents } from '../adapters/postgres/outbox';
import * as devices from '../adapters/postgres/device.repository';
import { insertState } from '../adapters/postgres/device-state.repository';
import { registryEvent, type RegistryContext, unitOfWork } from './registry.context';

type Completed = Static<(typeof ProvisioningCompletedV1)['schema']>;

/** Registers (or refreshes) the device of a `provisioning.completed` event. */
export async function registerProvisionedDevice(ctx: RegistryContext, data: Completed) {
  const certificate = JSON.stringify({
    serial: data.certificate.serial,
    not_after: data.certificate.not_after,
    status: 'active',
  });
  await unitOfWork(ctx, async (trx, after) => {
    const now = ctx.now();
    const existing = await devices.findDevice(trx, data.tenant, data.device_id, {
      forUpdate: true,
    });
    after.invalidate({ tenant: data.tenant, deviceId: data.device_id });
    if (existing !== undefined) {
      await devices.updateDevice(trx, data.tenant, data.device_id, {
        certificate,
        updated_at: now,
      });
      return;
    }
    await devices.ensureDeviceType(trx, data.tenant, data.device_type);
    await devices.insertDevice(trx, {
      tenant: data.tenant,
      device_id: data.device_id,
      device_type: data.device_type,
      hardware_id: `h-${data.hardware_id_hash.slice(0, 62)}`,
      hardware_model: data.hardware_model ?? null,
      firmware_version: null,
      tags: [],
      attributes: JSON.stringify({}),
      certificate,
      created_at: now,
      updated_at: now,
    });
    await insertState(trx, data.tenant, data.device_id);
    await outboxEvents(trx, [
      registryEvent(DeviceRegisteredV1, data.tenant, data.device_id, {
        device_id: data.device_id,
        tenant: data.tenant,
        device_type: data.device_type,
        hardware_id_hash: data.hardware_id_hash,
        hardware_model: data.hardware_model ?? null,
        tags: [],
        attributes: {},
        registered_at: now.toISOString(),
      }),
    ]);
    after.outbox();
  });
}
