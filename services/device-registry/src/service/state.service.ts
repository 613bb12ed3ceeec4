// Desired/reported state use cases. A desired change is pushed to the device through the
// outbox (COMMANDS stream, `iot.desired.<t>.<id>`), so the push exists iff the change commits.
import {
  DeviceStateChangedV1,
  type DeviceState,
  desiredSubject,
  type GetStateRequest,
  newUlid,
  type PutDesiredStateRequest,
} from '@drover/contracts';
import { outboxEvents, outboxMessages } from '../adapters/postgres/outbox';
import { assertActive } from '../domain/decommission';
import { computeDelta, nextDesired } from '../domain/device-state';
import { notFound } from '../domain/errors';
import * as states from '../adapters/postgres/device-state.repository';
import { type DeviceStateRow } from '../adapters/postgres/device.table';
import { type Executor } from '../adapters/postgres/schema';
import { toDeviceState } from './device.mapper';
import { requireDevice } from './device.service';
import { registryEvent, type RegistryContext, unitOfWork } from './registry.context';

/** The state row, locked; 404 when the device has none. */
export async function requireState(
  db: Executor,
  tenant: string,
  deviceId: string,
): Promise<DeviceStateRow> {
  const row = await states.findState(db, tenant, deviceId, { forUpdate: true });
  if (row === undefined) throw notFound('device_not_found', `no device ${deviceId}`);
  return row;
}

/** `get_state` */
export async function getState(ctx: RegistryContext, req: GetStateRequest): Promise<DeviceState> {
  await requireDevice(ctx.db, req.tenant, req.device_id);
  const row = await states.findState(ctx.db, req.tenant, req.device_id);
  if (row === undefined) throw notFound('device_not_found', `no device ${req.device_id}`);
  return toDeviceState(row);
}

/** `put_desired_state`: replaces the desired document, next version, pushes it to the device. */
export async function putDesiredState(
  ctx: RegistryContext,
  req: PutDesiredStateRequest,
): Promise<DeviceState> {
  return unitOfWork(ctx, async (trx, after) => {
    const device = await requireDevice(trx, req.tenant, req.device_id, true);
    assertActive({ deviceId: device.device_id, status: device.status });
    const current = await requireState(trx, req.tenant, req.device_id);
    const next = nextDesired(
      { state: current.desired, version: current.desired_version },
      req.state,
      req.expected_version,
    );
    const now = ctx.now();
    const saved = await states.saveDesired(
      trx,
      { tenant: req.tenant, deviceId: req.device_id },
      { ...next, at: now },
    );
    const msgId = newUlid();
    await outboxMessages(trx, [
      {
        subject: desiredSubject(ctx.naming, req.tenant, req.device_id),
        msgId,
        // Exactly the device payload (DesiredStatePayload): the ingress forwards it verbatim
        // and finds the device type for the topic itself.
        payload: {
          msg_id: msgId,
          ts: now.toISOString(),
          schema_version: 1,
          state: next.state,
          version: next.version,
        },
      },
    ]);
    await outboxEvents(trx, [
      registryEvent(DeviceStateChangedV1, req.tenant, req.device_id, {
        device_id: req.device_id,
        kind: 'desired',
        version: next.version,
        state: next.state,
        delta: computeDelta(next.state, saved.reported),
      }),
    ]);
    after.outbox();
    return toDeviceState(saved);
  });
}
