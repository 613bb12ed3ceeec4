// Device use cases: register, read, list, update, decommission, hot metadata.
import {
  type CreateDeviceRequest,
  type DecommissionDeviceRequest,
  type Device,
  type DeviceList,
  type DeviceMeta,
  type DevicesMeta,
  DeviceDecommissionedV1,
  DeviceRegisteredV1,
  DeviceUpdatedV1,
  type GetDeviceRequest,
  type GetDevicesMetaRequest,
  type ListDevicesRequest,
  newDeviceId,
  type UpdateDeviceRequest,
} from '@drover/contracts';
import { outboxEvents } from '../adapters/postgres/outbox';
import { decodeCursor, encodeCursor, likeContains, pageLimit } from '../domain/cursor';
import { assertActive, needsDecommission } from '../domain/decommission';
import {
  applyAttributesPatch,
  hashHardwareId,
  normalizeTags,
  sameTags,
  validateRegistration,
} from '../domain/device.validation';
import { invalid, notFound } from '../domain/errors';
import { jsonEqual } from '../domain/json';
import * as devices from '../adapters/postgres/device.repository';
import { insertState } from '../adapters/postgres/device-state.repository';
import { type DeviceRow } from '../adapters/postgres/device.table';
import { type Executor } from '../adapters/postgres/schema';
import { toDevice, toMeta } from './device.mapper';
import { resolveGroupFilter } from './group.service';
import { registryEvent, type RegistryContext, unitOfWork } from './registry.context';

/** 404 `device_not_found` unless the tenant has the device. */
export async function requireDevice(
  db: Executor,
  tenant: string,
  deviceId: string,
  forUpdate = false,
): Promise<DeviceRow> {
  const row = await devices.findDevice(db, tenant, deviceId, { forUpdate });
  if (row === undefined) throw notFound('device_not_found', `no device ${deviceId}`);
  return row;
}

/** `create_device` */
export async function createDevice(ctx: RegistryContext, req: CreateDeviceRequest) {
  const reg = validateRegistration(
    {
      deviceType: req.device_type,
      hardwareId: req.hardware_id,
      ...(req.device_id !== undefined && { deviceId: req.device_id }),
      ...(req.hardware_model !== undefined && { hardwareModel: req.hardware_model }),
      ...(req.tags !== undefined && { tags: req.tags }),
      ...(req.attributes !== undefined && { attributes: req.attributes }),
    },
    newDeviceId,
  );
  const device = await unitOfWork(ctx, async (trx, after) => {
    const now = ctx.now();
    await devices.ensureDeviceType(trx, req.tenant, reg.deviceType);
    const row = await devices.insertDevice(trx, {
      tenant: req.tenant,
      device_id: reg.deviceId,
      device_type: reg.deviceType,
      hardware_id: reg.hardwareId,
      hardware_model: reg.hardwareModel,
      firmware_version: null,
      tags: reg.tags,
      attributes: JSON.stringify(reg.attributes),
      created_at: now,
      updated_at: now,
    });
    await insertState(trx, req.tenant, reg.deviceId);
    await outboxEvents(trx, [
      registryEvent(DeviceRegisteredV1, req.tenant, reg.deviceId, {
        device_id: reg.deviceId,
        tenant: req.tenant,
        device_type: reg.deviceType,
        hardware_id_hash: hashHardwareId(reg.hardwareId),
        hardware_model: reg.hardwareModel,
        tags: reg.tags,
        attributes: reg.attributes,
        registered_at: now.toISOString(),
      }),
    ]);
    after.outbox();
    // A negative lookup may not be cached, but drop any leftover entry of a reused id.
    after.invalidate({ tenant: req.tenant, deviceId: reg.deviceId });
    return toDevice(row);
  });
  ctx.logger.info(
    { event: 'device.registered', device_id: device.device_id, tenant: device.tenant },
    'device registered',
  );
  return device;
}

/** Reads through the cache; Postgres on a miss (and the result is cached). */
export async function loadDeviceCached(
  ctx: RegistryContext,
  tenant: string,
  deviceId: string,
): Promise<Device> {
  const cached = await ctx.cache.get({ tenant, deviceId });
  // Keys are per tenant, but check anyway: a cache bug must never leak across tenants.
  if (cached !== undefined && cached.tenant === tenant) return cached;
  const device = toDevice(await requireDevice(ctx.db, tenant, deviceId));
  await ctx.cache.set(device);
  return device;
}

/** `get_device` */
export async function getDevice(ctx: RegistryContext, req: GetDeviceRequest): Promise<Device> {
  return loadDeviceCached(ctx, req.tenant, req.device_id);
}

/** `get_device_meta`: one device (the ingresses and gateways batch theirs: `get_devices_meta`). */
export async function getDeviceMeta(
  ctx: RegistryContext,
  req: GetDeviceRequest,
): Promise<DeviceMeta> {
  return toMeta(await loadDeviceCached(ctx, req.tenant, req.device_id));
}

/**
 * `get_devices_meta`: many devices' metadata in one call (a command burst to devices the caller
 * has not cached yet). Cached devices come from Redis (one pipeline), the rest from one query,
 * then cached; unknown ids are left out of the answer.
 */
export async function getDevicesMeta(
  ctx: RegistryContext,
  req: GetDevicesMetaRequest,
): Promise<DevicesMeta> {
  const ids = [...new Set(req.device_ids)];
  const cached = await Promise.all(
    ids.map((deviceId) => ctx.cache.get({ tenant: req.tenant, deviceId })),
  );
  const found = new Map<string, Device>();
  ids.forEach((id, i) => {
    const c = cached[i];
    if (c !== undefined && c.tenant === req.tenant) found.set(id, c);
  });
  const misses = ids.filter((id) => !found.has(id));
  const rows = await devices.findDevices(ctx.db, req.tenant, misses);
  await Promise.all(
    rows.map((row) => {
      const device = toDevice(row);
      found.set(device.device_id, device);
      return ctx.cache.set(device);
    }),
  );
  return { items: ids.flatMap((id) => (found.has(id) ? [toMeta(found.get(id)!)] : [])) };
}

/** `list_devices` */
export async function listDevices(
  ctx: RegistryContext,
  req: ListDevicesRequest,
): Promise<DeviceList> {
  const limit = pageLimit(req.limit);
  const afterId = req.cursor === undefined ? undefined : decodeCursor(req.cursor, 1)[0];
  const filter: devices.DeviceListFilter = {
    ...(req.device_type !== undefined && { deviceType: req.device_type }),
    ...(req.tag !== undefined && { tag: normalizeTags([req.tag])[0] }),
    ...(req.connectivity !== undefined && { connectivity: req.connectivity }),
    ...(req.firmware_version !== undefined && { firmwareVersion: req.firmware_version }),
    ...(req.q !== undefined && { like: likeContains(req.q) }),
  };
  if (req.group !== undefined) {
    Object.assign(filter, await resolveGroupFilter(ctx.db, req.tenant, req.group));
  }
  return pageOfDevices(ctx, req.tenant, filter, limit, afterId);
}

/** Fetches limit + 1 rows to know whether a next page exists. */
export async function pageOfDevices(
  ctx: RegistryContext,
  tenant: string,
  filter: devices.DeviceListFilter,
  limit: number,
  afterId: string | undefined,
): Promise<DeviceList> {
  const rows = await devices.listDevices(ctx.db, tenant, filter, {
    limit: limit + 1,
    ...(afterId !== undefined && { afterId }),
  });
  const items = rows.slice(0, limit).map(toDevice);
  const last = items[items.length - 1];
  return {
    items,
    next_cursor: rows.length > limit && last ? encodeCursor([last.device_id]) : null,
  };
}

/** `update_device`: tags replace the set, attributes merge (RFC 7396). */
export async function updateDevice(ctx: RegistryContext, req: UpdateDeviceRequest) {
  if (req.tags === undefined && req.attributes === undefined) {
    throw invalid('nothing to update: give tags and/or attributes');
  }
  return unitOfWork(ctx, async (trx, after) => {
    const row = await requireDevice(trx, req.tenant, req.device_id, true);
    assertActive({ deviceId: row.device_id, status: row.status });
    const tags = req.tags === undefined ? row.tags : normalizeTags(req.tags);
    const attributes =
      req.attributes === undefined
        ? row.attributes
        : applyAttributesPatch(row.attributes, req.attributes);
    const changes: { tags?: string[]; attributes?: typeof req.attributes } = {};
    if (!sameTags(tags, row.tags)) changes.tags = tags;
    if (!jsonEqual(attributes, row.attributes)) {
      changes.attributes = req.attributes;
    }
    if (Object.keys(changes).length === 0) return toDevice(row);
    const now = ctx.now();
    const updated = await devices.updateDevice(trx, req.tenant, req.device_id, {
      tags,
      attributes: JSON.stringify(attributes),
      updated_at: now,
    });
    await outboxEvents(trx, [
      registryEvent(DeviceUpdatedV1, req.tenant, req.device_id, {
        device_id: req.device_id,
        changes,
        updated_at: now.toISOString(),
      }),
    ]);
    after.outbox();
    after.invalidate({ tenant: req.tenant, deviceId: req.device_id });
    return toDevice(updated);
  });
}

/** `decommission_device` (idempotent: a repeat returns the device, no second event). */
export async function decommissionDevice(ctx: RegistryContext, req: DecommissionDeviceRequest) {
  return unitOfWork(ctx, async (trx, after) => {
    const row = await requireDevice(trx, req.tenant, req.device_id, true);
    if (!needsDecommission(row.status)) return toDevice(row);
    const now = ctx.now();
    const updated = await devices.updateDevice(trx, req.tenant, req.device_id, {
      status: 'decommissioned',
      decommissioned_at: now,
      updated_at: now,
    });
    await outboxEvents(trx, [
      registryEvent(DeviceDecommissionedV1, req.tenant, req.device_id, {
        device_id: req.device_id,
        ...(req.reason !== undefined && { reason: req.reason }),
        decommissioned_at: now.toISOString(),
      }),
    ]);
    after.outbox();
    after.invalidate({ tenant: req.tenant, deviceId: req.device_id });
    return toDevice(updated);
  });
}
