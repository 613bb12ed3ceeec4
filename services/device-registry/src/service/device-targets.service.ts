// `list_device_targets`: the compact, large-page listing a rollout planner resolves its target
// with (id, type, hardware model, firmware version, status), keyset-paged on device_id (the
// primary key order), so 50,000 devices are ten calls instead of a hundred full-device pages.
// Only the five columns of a target row are read (no tags, attributes or timestamps to parse).
import {
  DEVICE_TARGETS_LIMIT,
  type DeviceTargetList,
  type ListDeviceTargetsRequest,
} from '@drover/contracts';
import * as devices from '../adapters/postgres/device.repository';
import { decodeCursor, encodeCursor } from '../domain/cursor';
import { invalid } from '../domain/errors';
import { resolveGroupFilter } from './group.service';
import { type RegistryContext } from './registry.context';

/** `list_device_targets` */
export async function listDeviceTargets(
  ctx: RegistryContext,
  req: ListDeviceTargetsRequest,
): Promise<DeviceTargetList> {
  const limit = req.limit ?? DEVICE_TARGETS_LIMIT.default;
  if (req.group !== undefined && req.filter !== undefined) {
    throw invalid('give group or filter, not both');
  }
  const afterId = req.cursor === undefined ? undefined : decodeCursor(req.cursor, 1)[0];
  const filter: devices.DeviceListFilter = {
    ...(req.device_type !== undefined && { deviceType: req.device_type }),
    ...(req.filter !== undefined && { dynamicFilter: req.filter }),
  };
  if (req.group !== undefined) {
    Object.assign(filter, await resolveGroupFilter(ctx.db, req.tenant, req.group));
  }
  const rows = await devices.listDeviceTargetRows(ctx.db, req.tenant, filter, {
    limit: limit + 1,
    ...(afterId !== undefined && { afterId }),
  });
  const items = rows.slice(0, limit).map((r) => ({
    device_id: r.device_id,
    device_type: r.device_type,
    hardware_model: r.hardware_model ?? null,
    firmware_version: r.firmware_version ?? null,
    status: r.status,
  }));
  const last = items[items.length - 1];
  return {
    items,
    next_cursor: rows.length > limit && last ? encodeCursor([last.device_id]) : null,
  };
}
