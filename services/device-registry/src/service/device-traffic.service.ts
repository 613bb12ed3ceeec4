// What devices say through the ingress: reported state here, presence (connectivity,
// last_seen, firmware) in presence-batcher.ts. Called by the DEVICE stream consumers; throws
// NotFound for unknown devices (the consumer dead-letters those).
import { DeviceStateChangedV1 } from '@drover/contracts';
import { outboxEvents } from '../adapters/postgres/outbox';
import { computeDelta, mergeReported } from '../domain/device-state';
import { coalesceLastSeen } from '../domain/presence';
import * as devices from '../adapters/postgres/device.repository';
import * as states from '../adapters/postgres/device-state.repository';
import { requireDevice } from './device.service';
import { requireState } from './state.service';
import { registryEvent, type RegistryContext, unitOfWork } from './registry.context';

/** Outcome of one message, for logs, metrics and tests. */
export type TrafficOutcome =
  'applied' | 'out_of_order' | 'coalesced' | 'unchanged' | 'decommissioned';

const ms = (d: Date | null) => (d === null ? null : d.getTime());

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
