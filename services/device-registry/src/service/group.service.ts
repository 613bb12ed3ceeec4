// Group use cases: static groups keep member rows, dynamic ones a filter run at query time.
import {
  type CreateGroupRequest,
  type DeviceList,
  type GetGroupRequest,
  type Group,
  type GroupList,
  type ListGroupDevicesRequest,
  type ListGroupsRequest,
  newUlid,
} from '@drover/contracts';
import { decodeCursor, encodeCursor, pageLimit } from '../domain/cursor';
import { invalid, notFound } from '../domain/errors';
import { validateGroup } from '../domain/group.rules';
import { type DeviceListFilter, missingDeviceIds } from '../adapters/postgres/device.repository';
import * as groups from '../adapters/postgres/group.repository';
import { type GroupRow } from '../adapters/postgres/group.table';
import { type Executor } from '../adapters/postgres/schema';
import { toGroup } from './device.mapper';
import { pageOfDevices } from './device.service';
import { type RegistryContext } from './registry.context';

async function requireGroup(db: Executor, tenant: string, groupId: string): Promise<GroupRow> {
  const row = await groups.findGroup(db, tenant, groupId);
  if (row === undefined) throw notFound('group_not_found', `no group ${groupId}`);
  return row;
}

/** The list filter selecting a group's devices (its active members). */
export async function resolveGroupFilter(
  db: Executor,
  tenant: string,
  groupId: string,
): Promise<DeviceListFilter> {
  const group = await requireGroup(db, tenant, groupId);
  if (group.kind === 'dynamic' && group.filter !== null) {
    return { dynamicFilter: group.filter, activeOnly: true };
  }
  return { staticGroupId: group.group_id, activeOnly: true };
}

/** `create_group` */
export async function createGroup(ctx: RegistryContext, req: CreateGroupRequest): Promise<Group> {
  const def = validateGroup(
    {
      name: req.name,
      ...(req.group_id !== undefined && { groupId: req.group_id }),
      ...(req.description !== undefined && { description: req.description }),
      ...(req.device_ids !== undefined && { deviceIds: req.device_ids }),
      ...(req.filter !== undefined && { filter: req.filter }),
    },
    () => `g-${newUlid().toLowerCase()}`,
  );
  return ctx.db.transaction().execute(async (trx) => {
    const row = await groups.insertGroup(trx, {
      tenant: req.tenant,
      groupId: def.groupId,
      name: def.name,
      description: def.description,
      kind: def.kind,
      filter: def.kind === 'dynamic' ? def.filter : null,
    });
    if (def.kind === 'dynamic') return toGroup(row);
    const missing = await missingDeviceIds(trx, req.tenant, def.deviceIds);
    if (missing.length > 0) {
      throw invalid(`unknown device ids: ${missing.slice(0, 20).join(', ')}`);
    }
    await groups.insertMembers(trx, req.tenant, def.groupId, def.deviceIds);
    return toGroup(row, def.deviceIds);
  });
}

/** `get_group` */
export async function getGroup(ctx: RegistryContext, req: GetGroupRequest): Promise<Group> {
  const row = await requireGroup(ctx.db, req.tenant, req.group_id);
  if (row.kind === 'dynamic') return toGroup(row);
  return toGroup(row, await groups.memberIds(ctx.db, req.tenant, req.group_id));
}

/** `list_groups` */
export async function listGroups(ctx: RegistryContext, req: ListGroupsRequest): Promise<GroupList> {
  const limit = pageLimit(req.limit);
  const afterId = req.cursor === undefined ? undefined : decodeCursor(req.cursor, 1)[0];
  const rows = await groups.listGroups(ctx.db, req.tenant, {
    limit: limit + 1,
    ...(afterId !== undefined && { afterId }),
  });
  const page = rows.slice(0, limit);
  const items = await Promise.all(
    page.map(async (row) =>
      row.kind === 'dynamic'
        ? toGroup(row)
        : toGroup(row, await groups.memberIds(ctx.db, req.tenant, row.group_id)),
    ),
  );
  const last = page[page.length - 1];
  return {
    items,
    next_cursor: rows.length > limit && last ? encodeCursor([last.group_id]) : null,
  };
}

/** `list_group_devices` */
export async function listGroupDevices(
  ctx: RegistryContext,
  req: ListGroupDevicesRequest,
): Promise<DeviceList> {
  const limit = pageLimit(req.limit);
  const afterId = req.cursor === undefined ? undefined : decodeCursor(req.cursor, 1)[0];
  const filter = await resolveGroupFilter(ctx.db, req.tenant, req.group_id);
  return pageOfDevices(ctx, req.tenant, filter, limit, afterId);
}
