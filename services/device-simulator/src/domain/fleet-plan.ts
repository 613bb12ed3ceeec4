// Who the simulated devices are: deterministic ids, so a restart registers nothing twice and
// reconnects to the same persistent sessions.
import { createRandom, seedOf } from './random';

/** Hardware models the fleet mixes. */
export const HARDWARE_MODELS = ['sx-100', 'sx-200'] as const;

/** One simulated device. */
export interface SimDeviceSpec {
  /** Position in the fleet, from 0. */
  index: number;
  /** Device id, also the MQTT client id. */
  deviceId: string;
  /** Hardware id registered with the device. */
  hardwareId: string;
  /** Hardware model reported in the online status. */
  hardwareModel: string;
  /** Seed of the device's own random streams. */
  seed: number;
}

/** What the fleet is made of. */
export interface FleetPlanOptions {
  /** Tenant the devices belong to. */
  tenant: string;
  /** Number of devices. */
  size: number;
  /** SIM_SEED. */
  seed: number;
  /** Index of the first device (SIM_FLEET_OFFSET): several simulators share one fleet. */
  offset?: number;
}

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The devices of the fleet, in order; throws if the tenant makes an id too long. */
export function planFleet(opts: FleetPlanOptions): SimDeviceSpec[] {
  const offset = opts.offset ?? 0;
  const width = Math.max(4, String(offset + opts.size).length);
  return Array.from({ length: opts.size }, (_, i) => {
    const index = offset + i;
    const n = String(index + 1).padStart(width, '0');
    const deviceId = `sim-${opts.tenant}-${n}`;
    if (!ID_PATTERN.test(deviceId)) throw new Error(`device id ${deviceId} breaks the id rule`);
    const seed = seedOf(opts.seed, deviceId);
    // About half and half, fixed per device by the seed.
    const hardwareModel = createRandom(seed).next() < 0.5 ? HARDWARE_MODELS[0] : HARDWARE_MODELS[1];
    return { index, deviceId, hardwareId: `hw-${deviceId}`, hardwareModel, seed };
  });
}

/** Splits `items` into consecutive waves of at most `size`. */
export function waves<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** `[<prefix>/]<tenant>/<device_type>/<device_id>`: the device's topic root. */
export function deviceRoot(prefix: string, tenant: string, deviceType: string, id: string) {
  const root = `${tenant}/${deviceType}/${id}`;
  return prefix === '' ? root : `${prefix}/${root}`;
}
