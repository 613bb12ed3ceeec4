// The device-registry RPC contract (gateway/ingress <-> registry over the NATS services API).
// Bodies are snake_case JSON; every request carries the caller's `tenant`. Request schemas are
// open (extra properties tolerated) so a newer caller never breaks an older registry; responses
// are closed so clients can rely on the shape.
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { ID_PATTERN } from '../ids';
import { METRIC_NAME_PATTERN_SOURCE, TAG_PATTERN_SOURCE } from '../payloads/common.schema';

/** The RPC service name (`rpcSubject(naming, DEVICE_REGISTRY_SERVICE, op)`). */
export const DEVICE_REGISTRY_SERVICE = 'device-registry';

/** Operation names of the device-registry service. */
export const DeviceRegistryOps = {
  createDevice: 'create_device',
  getDevice: 'get_device',
  listDevices: 'list_devices',
  updateDevice: 'update_device',
  decommissionDevice: 'decommission_device',
  getState: 'get_state',
  putDesiredState: 'put_desired_state',
  createGroup: 'create_group',
  listGroups: 'list_groups',
  getGroup: 'get_group',
  listGroupDevices: 'list_group_devices',
  getDeviceMeta: 'get_device_meta',
  getDevicesMeta: 'get_devices_meta',
  listDeviceTargets: 'list_device_targets',
} as const;
/** One of the device-registry operation names. */
export type DeviceRegistryOp = (typeof DeviceRegistryOps)[keyof typeof DeviceRegistryOps];

/** Tags: `^[A-Za-z0-9_.:-]{1,64}$`. */
export const DEVICE_TAG_PATTERN = new RegExp(TAG_PATTERN_SOURCE);
/** Attribute keys follow the metric-name rule of the device protocol. */
export const DEVICE_ATTRIBUTE_KEY_PATTERN = new RegExp(METRIC_NAME_PATTERN_SOURCE);
/** At most this many tags per device. */
export const MAX_DEVICE_TAGS = 64;
/** At most this many attributes per device. */
export const MAX_DEVICE_ATTRIBUTES = 256;
/** Page size bounds for every list operation. */
export const RPC_LIST_LIMIT = { min: 1, max: 500, default: 50 } as const;

const Id = (description: string) => Type.String({ pattern: ID_PATTERN.source, description });
// No `format`: TypeBox's compiler rejects formats nobody registered, and callers differ there.
const Timestamp = (description: string) => Type.String({ minLength: 1, description });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** A tag. */
export const DeviceTag = Type.String({ pattern: DEVICE_TAG_PATTERN.source, description: 'tag' });
/** A flat attribute value. */
export const DeviceAttributeValue = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);
/** Attribute map (flat: name -> string, number or boolean). */
export const DeviceAttributes = Type.Record(
  Type.String({ pattern: DEVICE_ATTRIBUTE_KEY_PATTERN.source }),
  DeviceAttributeValue,
);
/** Attribute map. */
export type DeviceAttributes = Static<typeof DeviceAttributes>;

/** Attribute merge patch: a `null` value deletes the key (RFC 7396). */
export const DeviceAttributesPatch = Type.Record(
  Type.String({ pattern: DEVICE_ATTRIBUTE_KEY_PATTERN.source }),
  Type.Union([DeviceAttributeValue, Type.Null()]),
);
/** Attribute merge patch. */
export type DeviceAttributesPatch = Static<typeof DeviceAttributesPatch>;

/** Device lifecycle status. */
export const DeviceStatus = Type.Union([Type.Literal('active'), Type.Literal('decommissioned')]);
/** Device lifecycle status. */
export type DeviceStatus = Static<typeof DeviceStatus>;

/** DeviceConnectivity as last reported by presence (`unknown` until the first presence). */
export const DeviceConnectivity = Type.Union([
  Type.Literal('online'),
  Type.Literal('offline'),
  Type.Literal('unknown'),
]);
/** DeviceConnectivity. */
export type DeviceConnectivity = Static<typeof DeviceConnectivity>;

/** Certificate summary on a device. */
export const DeviceCertificateSummary = Type.Object(
  { serial: Type.String(), not_after: Type.String(), status: Type.String() },
  { additionalProperties: false },
);
/** Certificate summary on a device. */
export type DeviceCertificateSummary = Static<typeof DeviceCertificateSummary>;

/** A device as returned by the registry. */
export const Device = Type.Object(
  {
    device_id: Id('device id'),
    tenant: Id('tenant'),
    device_type: Id('device type'),
    hardware_id: Type.String(),
    hardware_model: Nullable(Type.String()),
    status: DeviceStatus,
    connectivity: DeviceConnectivity,
    last_seen: Nullable(Timestamp('last activity (RFC 3339)')),
    firmware_version: Nullable(Type.String()),
    tags: Type.Array(DeviceTag),
    attributes: DeviceAttributes,
    certificate: Nullable(DeviceCertificateSummary),
    created_at: Timestamp('created'),
    updated_at: Timestamp('last change'),
  },
  { additionalProperties: false },
);
/** A device. */
export type Device = Static<typeof Device>;

const TenantScoped = { tenant: Id('the caller token tenant') };
const DeviceScoped = { ...TenantScoped, device_id: Id('device id') };
const Page = {
  limit: Type.Optional(
    Type.Integer({
      minimum: RPC_LIST_LIMIT.min,
      maximum: RPC_LIST_LIMIT.max,
      default: RPC_LIST_LIMIT.default,
    }),
  ),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
};

/** `create_device` request. */
export const CreateDeviceRequest = Type.Object({
  ...TenantScoped,
  device_id: Type.Optional(Id('device id; generated (`d-` + ULID) when omitted')),
  device_type: Id('device type'),
  hardware_id: Id('hardware id'),
  hardware_model: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  tags: Type.Optional(Type.Array(DeviceTag, { maxItems: MAX_DEVICE_TAGS })),
  attributes: Type.Optional(DeviceAttributes),
});
/** `create_device` request. */
export type CreateDeviceRequest = Static<typeof CreateDeviceRequest>;

/** `get_device` request. */
export const GetDeviceRequest = Type.Object(DeviceScoped);
/** `get_device` request. */
export type GetDeviceRequest = Static<typeof GetDeviceRequest>;

/** `list_devices` request. */
export const ListDevicesRequest = Type.Object({
  ...TenantScoped,
  ...Page,
  device_type: Type.Optional(Id('device type')),
  group: Type.Optional(Id('group id')),
  tag: Type.Optional(DeviceTag),
  connectivity: Type.Optional(Type.Union([Type.Literal('online'), Type.Literal('offline')])),
  firmware_version: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});
/** `list_devices` request. */
export type ListDevicesRequest = Static<typeof ListDevicesRequest>;

/** A page of devices. */
export const DeviceList = Type.Object(
  { items: Type.Array(Device), next_cursor: Nullable(Type.String()) },
  { additionalProperties: false },
);
/** A page of devices. */
export type DeviceList = Static<typeof DeviceList>;

/** `update_device` request: `tags` replaces the set, `attributes` is a JSON merge patch. */
export const UpdateDeviceRequest = Type.Object({
  ...DeviceScoped,
  tags: Type.Optional(Type.Array(DeviceTag, { maxItems: MAX_DEVICE_TAGS })),
  attributes: Type.Optional(DeviceAttributesPatch),
});
/** `update_device` request. */
export type UpdateDeviceRequest = Static<typeof UpdateDeviceRequest>;

/** `decommission_device` request. */
export const DecommissionDeviceRequest = Type.Object({
  ...DeviceScoped,
  reason: Type.Optional(Type.String({ maxLength: 512 })),
});
/** `decommission_device` request. */
export type DecommissionDeviceRequest = Static<typeof DecommissionDeviceRequest>;

/** `get_state` request. */
export const GetStateRequest = Type.Object(DeviceScoped);
/** `get_state` request. */
export type GetStateRequest = Static<typeof GetStateRequest>;

/** One side (desired or reported) of a device's state document. */
export const VersionedDeviceState = Type.Object(
  {
    state: Type.Record(Type.String(), Type.Unknown()),
    version: Type.Integer({ minimum: 0 }),
    updated_at: Nullable(Timestamp('last change; null before the first one')),
  },
  { additionalProperties: false },
);
/** One side of a device's state document. */
export type VersionedDeviceState = Static<typeof VersionedDeviceState>;

/** Desired and reported state plus the delta (desired keys that differ from reported). */
export const DeviceState = Type.Object(
  {
    desired: VersionedDeviceState,
    reported: VersionedDeviceState,
    delta: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);
/** A device's state document. */
export type DeviceState = Static<typeof DeviceState>;

/** `put_desired_state` request. */
export const PutDesiredStateRequest = Type.Object({
  ...DeviceScoped,
  state: Type.Record(Type.String(), Type.Unknown()),
  expected_version: Type.Optional(Type.Integer({ minimum: 0 })),
});
/** `put_desired_state` request. */
export type PutDesiredStateRequest = Static<typeof PutDesiredStateRequest>;

/** Dynamic group filter: every given criterion must hold (evaluated at query time). */
export const GroupFilter = Type.Object(
  {
    device_type: Type.Optional(Id('device type')),
    hardware_model: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    firmware_version: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    connectivity: Type.Optional(DeviceConnectivity),
    tags_all: Type.Optional(Type.Array(DeviceTag, { maxItems: MAX_DEVICE_TAGS })),
    attributes: Type.Optional(DeviceAttributes),
  },
  { additionalProperties: false },
);
/** Dynamic group filter. */
export type GroupFilter = Static<typeof GroupFilter>;

/** `create_group` request: `device_ids` (static) or `filter` (dynamic), not both. */
export const CreateGroupRequest = Type.Object({
  ...TenantScoped,
  group_id: Type.Optional(Id('group id; generated when omitted')),
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  device_ids: Type.Optional(Type.Array(Id('device id'), { maxItems: 10000 })),
  filter: Type.Optional(GroupFilter),
});
/** `create_group` request. */
export type CreateGroupRequest = Static<typeof CreateGroupRequest>;

/** A group. */
export const Group = Type.Object(
  {
    group_id: Id('group id'),
    tenant: Id('tenant'),
    name: Type.String(),
    description: Nullable(Type.String()),
    kind: Type.Union([Type.Literal('static'), Type.Literal('dynamic')]),
    device_ids: Type.Optional(Type.Array(Id('device id'))),
    filter: Type.Optional(GroupFilter),
    created_at: Timestamp('created'),
  },
  { additionalProperties: false },
);
/** A group. */
export type Group = Static<typeof Group>;

/** `list_groups` request. */
export const ListGroupsRequest = Type.Object({ ...TenantScoped, ...Page });
/** `list_groups` request. */
export type ListGroupsRequest = Static<typeof ListGroupsRequest>;

/** A page of groups. */
export const GroupList = Type.Object(
  { items: Type.Array(Group), next_cursor: Nullable(Type.String()) },
  { additionalProperties: false },
);
/** A page of groups. */
export type GroupList = Static<typeof GroupList>;

/** `get_group` request. */
export const GetGroupRequest = Type.Object({ ...TenantScoped, group_id: Id('group id') });
/** `get_group` request. */
export type GetGroupRequest = Static<typeof GetGroupRequest>;

/** `list_group_devices` request. */
export const ListGroupDevicesRequest = Type.Object({
  ...TenantScoped,
  ...Page,
  group_id: Id('group id'),
});
/** `list_group_devices` request. */
export type ListGroupDevicesRequest = Static<typeof ListGroupDevicesRequest>;

/** `get_device_meta` request. */
export const GetDeviceMetaRequest = Type.Object(DeviceScoped);
/** `get_device_meta` request. */
export type GetDeviceMetaRequest = Static<typeof GetDeviceMetaRequest>;

/** The hot-path device metadata (the ingress checks tenant, type and status with it). */
export const DeviceMeta = Type.Object(
  {
    device_id: Id('device id'),
    tenant: Id('tenant'),
    device_type: Id('device type'),
    status: DeviceStatus,
  },
  { additionalProperties: false },
);
/** Hot-path device metadata. */
export type DeviceMeta = Static<typeof DeviceMeta>;
/**
 * The device fields a cache of {@link DeviceMeta} holds besides the ids: a `device.updated`
 * that changes none of them leaves such a cache valid (`watchDeviceChanges`'s `fields`).
 */
export const DEVICE_META_FIELDS = ['device_type', 'status'] as const satisfies readonly Exclude<
  keyof DeviceMeta,
  'device_id' | 'tenant'
>[];

/** Most device ids per `get_devices_meta` request. */
export const DEVICES_META_MAX = 500;

/** `get_devices_meta` request: the metadata of many devices of one tenant in one call. */
export const GetDevicesMetaRequest = Type.Object({
  ...TenantScoped,
  device_ids: Type.Array(Id('device id'), { minItems: 1, maxItems: DEVICES_META_MAX }),
});
/** `get_devices_meta` request. */
export type GetDevicesMetaRequest = Static<typeof GetDevicesMetaRequest>;

/** `get_devices_meta` response: the devices that exist (an unknown id is left out). */
export const DevicesMeta = Type.Object(
  { items: Type.Array(DeviceMeta) },
  { additionalProperties: false },
);
/** `get_devices_meta` response. */
export type DevicesMeta = Static<typeof DevicesMeta>;

/** Page size bounds of `list_device_targets` (compact rows, so pages are larger). */
export const DEVICE_TARGETS_LIMIT = { min: 1, max: 5000, default: 1000 } as const;

/**
 * `list_device_targets` request: the compact listing a rollout planner resolves its target
 * with; keyset pages in device_id order. Without `group`/`filter` every device (any status,
 * optionally of `device_type`); `group`: the group's active members; `filter`: the active devices
 * matching a dynamic-group filter.
 */
export const ListDeviceTargetsRequest = Type.Object({
  ...TenantScoped,
  limit: Type.Optional(
    Type.Integer({
      minimum: DEVICE_TARGETS_LIMIT.min,
      maximum: DEVICE_TARGETS_LIMIT.max,
      default: DEVICE_TARGETS_LIMIT.default,
    }),
  ),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  device_type: Type.Optional(Id('device type')),
  group: Type.Optional(Id('group id')),
  filter: Type.Optional(GroupFilter),
});
/** `list_device_targets` request. */
export type ListDeviceTargetsRequest = Static<typeof ListDeviceTargetsRequest>;

/** One compact device row of a target listing. */
export const DeviceTarget = Type.Object(
  {
    device_id: Id('device id'),
    device_type: Id('device type'),
    hardware_model: Nullable(Type.String()),
    firmware_version: Nullable(Type.String()),
    status: DeviceStatus,
  },
  { additionalProperties: false },
);
/** A compact device row. */
export type DeviceTarget = Static<typeof DeviceTarget>;

/** A page of compact device rows. */
export const DeviceTargetList = Type.Object(
  { items: Type.Array(DeviceTarget), next_cursor: Nullable(Type.String()) },
  { additionalProperties: false },
);
/** A page of compact device rows. */
export type DeviceTargetList = Static<typeof DeviceTargetList>;

/** Request and response schema of every operation (for route schemas, OpenAPI and tests). */
export const DeviceRegistryRpc = {
  [DeviceRegistryOps.createDevice]: { request: CreateDeviceRequest, response: Device },
  [DeviceRegistryOps.getDevice]: { request: GetDeviceRequest, response: Device },
  [DeviceRegistryOps.listDevices]: { request: ListDevicesRequest, response: DeviceList },
  [DeviceRegistryOps.updateDevice]: { request: UpdateDeviceRequest, response: Device },
  [DeviceRegistryOps.decommissionDevice]: { request: DecommissionDeviceRequest, response: Device },
  [DeviceRegistryOps.getState]: { request: GetStateRequest, response: DeviceState },
  [DeviceRegistryOps.putDesiredState]: { request: PutDesiredStateRequest, response: DeviceState },
  [DeviceRegistryOps.createGroup]: { request: CreateGroupRequest, response: Group },
  [DeviceRegistryOps.listGroups]: { request: ListGroupsRequest, response: GroupList },
  [DeviceRegistryOps.getGroup]: { request: GetGroupRequest, response: Group },
  [DeviceRegistryOps.listGroupDevices]: { request: ListGroupDevicesRequest, response: DeviceList },
  [DeviceRegistryOps.getDeviceMeta]: { request: GetDeviceMetaRequest, response: DeviceMeta },
  [DeviceRegistryOps.getDevicesMeta]: { request: GetDevicesMetaRequest, response: DevicesMeta },
  [DeviceRegistryOps.listDeviceTargets]: {
    request: ListDeviceTargetsRequest,
    response: DeviceTargetList,
  },
} as const;
