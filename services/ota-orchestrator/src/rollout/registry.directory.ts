// Target resolution through the device-registry RPC: explicit ids (get_device each, a page of
// the type when many), a group (list_group_devices) or a filter (list_devices by type, the
// rest of the filter applied here). The compact listing is also handed over page by page, the
// next page already asked for, so the planner stores one page while the registry reads the next.
import { rpcRequest, type Bus } from '@drover/bus';
import {
  DEVICE_REGISTRY_SERVICE,
  type Device,
  type DeviceList,
  DeviceRegistryOps,
  DEVICE_TARGETS_LIMIT,
  type DeploymentTarget,
  type DeviceTarget,
  type DeviceTargetList,
  type GroupFilter,
} from '@drover/contracts';
import { NotFoundError } from '@drover/service-kit';
import { type CandidateDevice } from '../domain/rollout-plan';
import { type DeviceDirectory } from './rollout.context';

const PAGE = 500;
const RPC_TIMEOUT_MS = 15_000;

/** Options of {@link registryDirectory}. */
export interface RegistryDirectoryOptions {
  /** Rows per `list_device_targets` page (1 … 5,000; default the maximum, 5,000). */
  targetPageSize?: number;
}

function candidate(d: Device): CandidateDevice {
  return {
    deviceId: d.device_id,
    deviceType: d.device_type,
    status: d.status,
    hardwareModel: d.hardware_model,
    firmwareVersion: d.firmware_version,
  };
}

function targetCandidate(d: DeviceTarget): CandidateDevice {
  return {
    deviceId: d.device_id,
    deviceType: d.device_type,
    status: d.status,
    hardwareModel: d.hardware_model,
    firmwareVersion: d.firmware_version,
  };
}

// A filter the compact listing can apply without the full device (no tags/attributes/presence).
function compactFilter(f: GroupFilter): boolean {
  return f.connectivity === undefined && f.tags_all === undefined && f.attributes === undefined;
}

function matches(d: Device, f: GroupFilter): boolean {
  if (f.connectivity !== undefined && d.connectivity !== f.connectivity) return false;
  if (f.hardware_model !== undefined && d.hardware_model !== f.hardware_model) return false;
  if (f.tags_all !== undefined && !f.tags_all.every((t) => d.tags.includes(t))) return false;
  if (f.attributes !== undefined) {
    for (const [k, v] of Object.entries(f.attributes)) if (d.attributes[k] !== v) return false;
  }
  return true;
}

/** The registry as a DeviceDirectory. */
export function registryDirectory(bus: Bus, opts: RegistryDirectoryOptions = {}): DeviceDirectory {
  const targetPageSize = opts.targetPageSize ?? DEVICE_TARGETS_LIMIT.max;
  const call = <T>(op: string, body: Record<string, unknown>) =>
    rpcRequest<T>(bus, DEVICE_REGISTRY_SERVICE, op, body, { timeoutMs: RPC_TIMEOUT_MS });
  const pages = async (op: string, body: Record<string, unknown>): Promise<Device[]> => {
    const out: Device[] = [];
    let cursor: string | null = null;
    do {
      const page: DeviceList = await call<DeviceList>(op, {
        ...body,
        limit: PAGE,
        ...(cursor !== null && { cursor }),
      });
      out.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor !== null);
    return out;
  };

  // The compact listing (list_device_targets), page by page in device_id order. Page k+1 is
  // asked for as soon as page k's cursor is known, before page k is handed over.
  async function* targetPages(body: Record<string, unknown>): AsyncGenerator<DeviceTarget[]> {
    const fetchPage = (cursor: string | null): Promise<DeviceTargetList> => {
      const p = call<DeviceTargetList>(DeviceRegistryOps.listDeviceTargets, {
        ...body,
        limit: targetPageSize,
        ...(cursor !== null && { cursor }),
      });
      p.catch((err: unknown) => {
        // Surfaced by the await below; moot when the caller stopped reading early.
        void err;
      });
      return p;
    };
    let next: Promise<DeviceTargetList> | null = fetchPage(null);
    while (next !== null) {
      const page: DeviceTargetList = await next;
      next = page.next_cursor === null ? null : fetchPage(page.next_cursor);
      yield page.items;
    }
  }
  const targets = async (body: Record<string, unknown>): Promise<DeviceTarget[]> => {
    const out: DeviceTarget[] = [];
    for await (const items of targetPages(body)) for (const d of items) out.push(d);
    return out;
  };

  async function explicit(tenant: string, deviceIds: string[]): Promise<CandidateDevice[]> {
    const ids = [...new Set(deviceIds)];
    let found: CandidateDevice[];
    if (ids.length <= 200) {
      found = [];
      for (let i = 0; i < ids.length; i += 25) {
        const batch = await Promise.all(
          ids.slice(i, i + 25).map((id) =>
            call<Device>(DeviceRegistryOps.getDevice, { tenant, device_id: id }).catch(
              (err: unknown) => {
                if (err instanceof NotFoundError) return null;
                throw err;
              },
            ),
          ),
        );
        for (const d of batch) if (d !== null) found.push(candidate(d));
      }
    } else {
      const wanted = new Set(ids);
      found = (await targets({ tenant }))
        .filter((d) => wanted.has(d.device_id))
        .map(targetCandidate);
    }
    const known = new Set(found.map((d) => d.deviceId));
    const missing = ids.filter((id) => !known.has(id));
    if (missing.length > 0) {
      throw new NotFoundError(
        'device_not_found',
        `unknown device ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`,
      );
    }
    return found;
  }

  async function* resolvePages(
    tenant: string,
    deviceType: string,
    target: DeploymentTarget,
  ): AsyncGenerator<CandidateDevice[]> {
    if (target.device_ids !== undefined) {
      yield await explicit(tenant, target.device_ids);
      return;
    }
    if (target.group !== undefined) {
      for await (const items of targetPages({
        tenant,
        group: target.group,
        device_type: deviceType,
      })) {
        yield items.map(targetCandidate);
      }
      return;
    }
    const f: GroupFilter = target.filter ?? {};
    if (compactFilter(f)) {
      // Every status, as the full listing gives, so the plan can say why a device is left out.
      for await (const items of targetPages({ tenant, device_type: f.device_type ?? deviceType })) {
        yield items
          .filter(
            (d) =>
              (f.hardware_model === undefined || d.hardware_model === f.hardware_model) &&
              (f.firmware_version === undefined || d.firmware_version === f.firmware_version),
          )
          .map(targetCandidate);
      }
      return;
    }
    const devices = await pages(DeviceRegistryOps.listDevices, {
      tenant,
      device_type: f.device_type ?? deviceType,
      ...(f.firmware_version !== undefined && { firmware_version: f.firmware_version }),
    });
    yield devices.filter((d) => matches(d, f)).map(candidate);
  }

  return {
    resolvePages,
    async resolve(tenant, deviceType, target) {
      const out: CandidateDevice[] = [];
      for await (const page of resolvePages(tenant, deviceType, target)) {
        for (const d of page) out.push(d);
      }
      return out;
    },
  };
}
