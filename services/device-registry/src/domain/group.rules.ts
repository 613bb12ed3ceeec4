// Groups: static (an explicit member list) or dynamic (a filter evaluated at query time).
// `matchesFilter` is the reference semantics; the SQL in the postgres adapter implements the
// same rules and the integration tests hold the two together.
import { jsonEqual } from './json';
import {
  type DeviceAttributes as Attributes,
  type GroupFilter,
  isValidId,
} from '@drover/contracts';
import { normalizeTags, validateAttributes } from './device.validation';
import { invalid } from './errors';

/** What `create_group` asks for, before validation. */
export interface GroupInput {
  /** Caller-chosen id; generated when absent. */
  groupId?: string;
  /** Display name. */
  name: string;
  /** Optional description. */
  description?: string;
  /** Members of a static group. */
  deviceIds?: string[];
  /** Filter of a dynamic group. */
  filter?: GroupFilter;
}

/** A validated group definition. */
export type GroupDefinition = {
  /** The group id. */
  groupId: string;
  /** Display name. */
  name: string;
  /** Description or null. */
  description: string | null;
} & ({ kind: 'static'; deviceIds: string[] } | { kind: 'dynamic'; filter: GroupFilter });

/** The device fields a dynamic filter looks at. */
export interface FilterableDevice {
  /** Device type. */
  deviceType: string;
  /** Hardware model. */
  hardwareModel: string | null;
  /** Firmware version. */
  firmwareVersion: string | null;
  /** Connectivity. */
  connectivity: string;
  /** Tags. */
  tags: readonly string[];
  /** Attributes. */
  attributes: Attributes;
  /** Lifecycle status. */
  status: string;
}

const FILTER_KEYS = [
  'device_type',
  'hardware_model',
  'firmware_version',
  'connectivity',
  'tags_all',
  'attributes',
] as const;

function validateFilter(filter: GroupFilter): GroupFilter {
  const keys = Object.keys(filter);
  const unknown = keys.filter((k) => !(FILTER_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) throw invalid(`unknown filter keys: ${unknown.join(', ')}`);
  // An empty filter would silently mean "the whole fleet": too dangerous for fan-out targets.
  if (keys.length === 0) throw invalid('filter needs at least one criterion');
  if (filter.device_type !== undefined && !isValidId(filter.device_type)) {
    throw invalid('filter.device_type must be a valid id');
  }
  const out: GroupFilter = { ...filter };
  if (filter.tags_all !== undefined) out.tags_all = normalizeTags(filter.tags_all);
  if (filter.attributes !== undefined) out.attributes = validateAttributes(filter.attributes);
  return out;
}

/** Validates `create_group`: exactly one of `device_ids` (static) or `filter` (dynamic). */
export function validateGroup(input: GroupInput, newId: () => string): GroupDefinition {
  if (input.groupId !== undefined && !isValidId(input.groupId)) {
    throw invalid('group_id must match ^[A-Za-z0-9_-]{1,64}$');
  }
  const name = input.name.trim();
  if (name.length === 0) throw invalid('name must not be empty');
  const base = {
    groupId: input.groupId ?? newId(),
    name,
    description: input.description ?? null,
  };
  if (input.filter !== undefined && input.deviceIds !== undefined) {
    throw invalid('a group has either device_ids (static) or filter (dynamic), not both');
  }
  if (input.filter !== undefined) {
    return { ...base, kind: 'dynamic', filter: validateFilter(input.filter) };
  }
  if (input.deviceIds === undefined) throw invalid('a group needs device_ids or filter');
  const bad = input.deviceIds.find((id) => !isValidId(id));
  if (bad !== undefined) throw invalid(`invalid device id ${JSON.stringify(bad)}`);
  return { ...base, kind: 'static', deviceIds: [...new Set(input.deviceIds)].sort() };
}

/**
 * Dynamic group membership: every given criterion must hold (AND); `tags_all` needs every tag;
 * `attributes` needs each key with an equal value of the same JSON type. Decommissioned devices
 * are never members (groups are fan-out targets).
 */
export function matchesFilter(device: FilterableDevice, filter: GroupFilter): boolean {
  if (device.status !== 'active') return false;
  const checks: boolean[] = [
    filter.device_type === undefined || device.deviceType === filter.device_type,
    filter.hardware_model === undefined || device.hardwareModel === filter.hardware_model,
    filter.firmware_version === undefined || device.firmwareVersion === filter.firmware_version,
    filter.connectivity === undefined || device.connectivity === filter.connectivity,
    (filter.tags_all ?? []).every((t) => device.tags.includes(t)),
    Object.entries(filter.attributes ?? {}).every(([k, v]) => jsonEqual(device.attributes[k], v)),
  ];
  return checks.every(Boolean);
}
