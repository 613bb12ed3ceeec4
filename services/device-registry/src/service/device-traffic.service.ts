// What devices say through the ingress: presence (connectivity, last_seen, firmware) and
// reported state. Called by the DEVICE stream consumers; throws NotFound for unknown devices
// (the consumer dead-letters those).
import {
  DeviceConnectedV1,
  DeviceDisconnectedV1,
  DeviceStateChangedV1,
  DeviceUpdatedV1,
} from '@drover/contracts';
import { outboxEvents } from '../adapters/postgres/outbox';
import { computeDelta, mergeReported } from '../domain/device-state';
import { applyPresence, coalesceLastSeen, type PresenceInput } from '../domain/presence';
import * as devices from '../adapters/postgres/device.repository';
import * as states from '../adapters/postgres/device-state.repository';
import { requireDevice } from './device.service';
import { requireState } from './state.service';
import { registryEvent, type RegistryContext, unitOfWork } from './registry.context';

/** Outcome of one message, for logs, metrics and tests. */
export type TrafficOutcome =
  'applied' | 'out_of_order' | 'coalesced' | 'unchanged' | 'decommissioned';

const ms = (d: Date | null) => (d === null ? null : d.getTime());

/** Applies a presence message. */
export async function handlePresence(
  ctx: RegistryContext,
  tenant: string,
  deviceId: string,
  input: PresenceInput,
): Promise<TrafficOutcome> {
  return unitOfWork(ctx, async (trx, after) => {
    const row = await requireDevice(trx, tenant, deviceId, true);
    if (row.status === 'decommissioned') return 'decommissioned';
    const decision = applyPresence(
      {
        connectivity: row.connectivity,
        lastSeenMs: ms(row.last_seen),
        lastPresenceMs: ms(row.last_presence_ts),
        firmwareVersion: row.firmware_version,
        hardwareModel: row.hardware_model,
      },
      input,
      ctx.coalesceMs,
    );
    if (decision.kind === 'ignore') return decision.reason;
    const now = ctx.now();
    const hasChanges = Object.keys(decision.changes).length > 0;
    await devices.updateDevice(trx, tenant, deviceId, {
      connectivity: decision.connectivity,
      last_seen: new Date(decision.lastSeenMs),
      last_presence_ts: new Date(decision.lastPresenceMs),
      ...decision.changes,
      // updated_at tracks registry-visible properties, not liveness.
      ...((hasChanges || decision.transition !== null) && { updated_at: now }),
    });
    const at = new Date(input.tsMs).toISOString();
    const firmware = decision.changes.firmware_version ?? row.firmware_version;
    const events = [];
    if (decision.transition !== null) {
      const def = decision.transition === 'connected' ? DeviceConnectedV1 : DeviceDisconnectedV1;
      events.push(
        registryEvent(def, tenant, deviceId, {
          device_id: deviceId,
          at,
          ...(firmware !== null && { firmware_version: firmware }),
        }),
      );
    }
    if (hasChanges) {
      events.push(
        registryEvent(DeviceUpdatedV1, tenant, deviceId, {
          device_id: deviceId,
          changes: decision.changes,
          updated_at: now.toISOString(),
        }),
      );
    }
    if (events.length > 0) {
      await outboxEvents(trx, events);
      after.outbox();
    }
    after.invalidate({ tenant, deviceId });
    return 'applied';
  });
}

/** Merges a reported-state message and touches last_seen (coalesced). */
export async function handleReportedState(
  ctx: RegistryContext,
  tenant: string,
  deviceId: string,
  input: { state: Record<string, unknown>; tsMs: number },
): Promise<TrafficOutcome> {
  return unitOfWork(ctx, async (trx, after) => {
    const row = await requireDevice(trx, tenant, deviceId, true);
    if (row.status === 'decommissioned') return 'decommissioned';
    const seen = coalesceLastSeen(ms(row.last_seen), input.tsMs, ctx.coalesceMs);
    if (seen !== null) {
      await devices.updateDevice(trx, tenant, deviceId, { last_seen: new Date(seen) });
      after.invalidate({ tenant, deviceId });
    }
    const current = await requireState(trx, tenant, deviceId);
    const merged = mergeReported(
      { state: current.reported, version: current.reported_version },
      input.state,
    );
    if (!merged.changed) return 'unchanged';
    await states.saveReported(trx, { tenant, deviceId }, { ...merged.next, at: ctx.now() });
    await outboxEvents(trx, [
      registryEvent(DeviceStateChangedV1, tenant, deviceId, {
        device_id: deviceId,
        kind: 'reported',
        version: merged.next.version,
        state: merged.next.state,
        delta: computeDelta(current.desired, merged.next.state),
      }),
    ]);
    after.outbox();
    return 'applied';
  });
}
