// Registers the fleet with the device registry over its RPC, idempotently: ids are fixed, and
// `device_exists` means an earlier run registered the device already.
import { setTimeout as sleep } from 'node:timers/promises';
import { type Bus, rpcRequest } from '@drover/bus';
import {
  DEVICE_REGISTRY_SERVICE,
  DeviceRegistryOps,
  PROVISIONING_SERVICE,
  ProvisioningOps,
} from '@drover/contracts';
import type { Logger } from '@drover/observability';
import { DomainError } from '@drover/service-kit';
import { backoffDelayMs } from './domain/backoff';
import type { SimDeviceSpec } from './domain/fleet-plan';
import type { Random } from './domain/random';

/** Options of {@link registerFleet}. */
export interface RegisterFleetOptions {
  /** Tenant. */
  tenant: string;
  /** Device type. */
  deviceType: string;
  /** Calls in flight at once. */
  concurrency: number;
  /** Jitter for the retry back-off. */
  rand: Random;
  /** Aborts the retries (the simulator stops). */
  signal: AbortSignal;
  /** Logger. */
  logger: Logger;
}

/** Registers every device, retrying while the registry is not up; counts new and known ones. */
export async function registerFleet(
  bus: Bus,
  devices: readonly SimDeviceSpec[],
  opts: RegisterFleetOptions,
): Promise<{ created: number; existing: number }> {
  const [first, ...rest] = devices;
  if (!first) return { created: 0, existing: 0 };
  // The first device alone probes the registry: one retry loop (and log line) while it comes
  // up instead of a whole batch of them.
  let created = (await registerOne(bus, first, opts, true)) ? 1 : 0;
  for (let i = 0; i < rest.length; i += opts.concurrency) {
    const batch = rest.slice(i, i + opts.concurrency);
    const results = await Promise.all(batch.map((d) => registerOne(bus, d, opts, false)));
    created += results.filter(Boolean).length;
  }
  return { created, existing: devices.length - created };
}

async function registerOne(
  bus: Bus,
  d: SimDeviceSpec,
  opts: RegisterFleetOptions,
  probe: boolean,
): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    opts.signal.throwIfAborted();
    try {
      await rpcRequest(bus, DEVICE_REGISTRY_SERVICE, DeviceRegistryOps.createDevice, {
        tenant: opts.tenant,
        device_id: d.deviceId,
        device_type: opts.deviceType,
        hardware_id: d.hardwareId,
        hardware_model: d.hardwareModel,
        tags: ['simulated'],
      });
      return true;
    } catch (err) {
      if (err instanceof DomainError && err.code === 'device_exists') return false;
      // A refusal (4xx) will not change by retrying; anything else is the registry not up yet.
      if (err instanceof DomainError && err.status < 500) throw err;
      const delay = backoffDelayMs(attempt, opts.rand, { minMs: 500, maxMs: 30_000 });
      const level = probe && attempt % 10 === 0 ? 'warn' : 'debug';
      opts.logger[level]({ err, device: d.deviceId, delay }, 'registry not ready, retrying');
      await sleep(delay, undefined, { signal: opts.signal });
    }
  }
}

/** Options of {@link enrollFleet}. */
export type EnrollFleetOptions = Omit<RegisterFleetOptions, 'concurrency'>;

/**
 * Enrolls the fleet's hardware ids with the provisioning service (one enrollment per 10,000),
 * retrying while it is not up; a refusal (4xx) is thrown.
 */
export async function enrollFleet(
  bus: Bus,
  devices: readonly SimDeviceSpec[],
  opts: EnrollFleetOptions,
): Promise<void> {
  for (let i = 0; i < devices.length; i += 10_000) {
    const hardwareIds = devices.slice(i, i + 10_000).map((d) => d.hardwareId);
    for (let attempt = 0; ; attempt++) {
      opts.signal.throwIfAborted();
      try {
        await rpcRequest(bus, PROVISIONING_SERVICE, ProvisioningOps.createEnrollment, {
          tenant: opts.tenant,
          device_type: opts.deviceType,
          hardware_ids: hardwareIds,
        });
        break;
      } catch (err) {
        if (err instanceof DomainError && err.status < 500) throw err;
        const delay = backoffDelayMs(attempt, opts.rand, { minMs: 500, maxMs: 30_000 });
        const level = attempt % 10 === 0 ? 'warn' : 'debug';
        opts.logger[level]({ err, delay }, 'provisioning not ready, retrying');
        await sleep(delay, undefined, { signal: opts.signal });
      }
    }
  }
}
