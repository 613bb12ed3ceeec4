// The only place MQTT topic strings are written. Device topics are
// `[<prefix>/]<tenant>/<device_type>/<device_id>/<channel>`; the optional one-level prefix
// isolates tests on the shared broker.
import { assertValidId, isValidId } from './ids';

/** Channels a device publishes on. */
export const DEVICE_CHANNELS = [
  'telemetry',
  'status',
  'cmd/res',
  'update_status',
  'state/reported',
  'cert/renew',
] as const;
/** Channels the platform publishes on. */
export const PLATFORM_CHANNELS = ['cmd', 'state/desired', 'cert/renew/res'] as const;

/** One of `DEVICE_CHANNELS`. */
export type DeviceChannel = (typeof DEVICE_CHANNELS)[number];
/** One of `PLATFORM_CHANNELS`. */
export type PlatformChannel = (typeof PLATFORM_CHANNELS)[number];
/** Any channel under a device root. */
export type Channel = DeviceChannel | PlatformChannel;

const deviceChannels: ReadonlySet<string> = new Set(DEVICE_CHANNELS);
const allChannels: ReadonlySet<string> = new Set<string>([
  ...DEVICE_CHANNELS,
  ...PLATFORM_CHANNELS,
]);

/** True for a channel a device may publish on. */
export function isDeviceChannel(c: string): c is DeviceChannel {
  return deviceChannels.has(c);
}

/** True for any known channel. */
export function isChannel(c: string): c is Channel {
  return allChannels.has(c);
}

/** The ids that address one device (plus the optional test prefix). */
export interface DeviceAddress {
  /** Tenant id. */
  tenant: string;
  /** Device type id. */
  deviceType: string;
  /** Device id. */
  deviceId: string;
  /** Optional one-level topic prefix (tests on the shared broker). */
  prefix?: string;
}

function withPrefix(prefix: string | undefined, rest: string): string {
  if (prefix === undefined || prefix === '') return rest;
  assertValidId('prefix', prefix);
  return `${prefix}/${rest}`;
}

/** `[<prefix>/]<tenant>/<type>/<id>`; `prefix` may be given in the address or as 2nd argument. */
export function deviceRoot(address: DeviceAddress, prefix?: string): string {
  assertValidId('tenant', address.tenant);
  assertValidId('deviceType', address.deviceType);
  assertValidId('deviceId', address.deviceId);
  return withPrefix(
    prefix ?? address.prefix,
    `${address.tenant}/${address.deviceType}/${address.deviceId}`,
  );
}

/** `<root>/<channel>` for a root made by `deviceRoot`. */
export function deviceTopic(root: string, channel: Channel): string {
  if (!allChannels.has(channel)) throw new Error(`unknown channel ${String(channel)}`);
  return `${root}/${channel}`;
}

/** A parsed device topic. */
export interface DeviceTopic {
  /** Tenant id. */
  tenant: string;
  /** Device type id. */
  deviceType: string;
  /** Device id. */
  deviceId: string;
  /** The channel below the device root. */
  channel: Channel;
}

/** Parses a device topic (with exactly the given prefix, if any); `null` if malformed. */
export function parseDeviceTopic(topic: string, prefix?: string): DeviceTopic | null {
  if (typeof topic !== 'string') return null;
  const levels = topic.split('/');
  if (prefix !== undefined && prefix !== '') {
    if (levels[0] !== prefix || !isValidId(prefix)) return null;
    levels.shift();
  }
  if (levels.length < 4) return null;
  const [tenant, deviceType, deviceId] = levels;
  const channel = levels.slice(3).join('/');
  if (!isValidId(tenant) || !isValidId(deviceType) || !isValidId(deviceId)) return null;
  if (!allChannels.has(channel)) return null;
  return { tenant, deviceType, deviceId, channel: channel as Channel };
}

/** Direction of a provisioning topic: the device's request or the platform's response. */
export type ProvisioningDirection = 'req' | 'res';

/** `[<prefix>/]provisioning/<hardwareId>/<req|res>` */
export function provisioningTopic(
  hardwareId: string,
  direction: ProvisioningDirection,
  prefix?: string,
): string {
  assertValidId('hardwareId', hardwareId);
  if (direction !== 'req' && direction !== 'res') throw new Error(`bad direction ${direction}`);
  return withPrefix(prefix, `provisioning/${hardwareId}/${direction}`);
}

/** A parsed provisioning topic. */
export interface ProvisioningTopic {
  /** The hardware id from the topic (the bootstrap certificate's CN). */
  hardwareId: string;
  /** `req` from the device, `res` from the platform. */
  direction: ProvisioningDirection;
}

/** Parses a provisioning topic (with exactly the given prefix, if any); `null` if malformed. */
export function parseProvisioningTopic(topic: string, prefix?: string): ProvisioningTopic | null {
  if (typeof topic !== 'string') return null;
  const levels = topic.split('/');
  if (prefix !== undefined && prefix !== '') {
    if (levels[0] !== prefix || !isValidId(prefix)) return null;
    levels.shift();
  }
  if (levels.length !== 3 || levels[0] !== 'provisioning') return null;
  const [, hardwareId, direction] = levels;
  if (!isValidId(hardwareId) || (direction !== 'req' && direction !== 'res')) return null;
  return { hardwareId, direction };
}

/** Subscription filter for one channel of every device: `[<prefix>/]+/+/+/<channel>`. */
export function deviceChannelFilter(channel: Channel, prefix?: string): string {
  if (!allChannels.has(channel)) throw new Error(`unknown channel ${String(channel)}`);
  return withPrefix(prefix, `+/+/+/${channel}`);
}

/** Subscription filter for everything under one device root: `<root>/#`. */
export function deviceRootFilter(root: string): string {
  return `${root}/#`;
}

/** Subscription filter for every provisioning request: `[<prefix>/]provisioning/+/req`. */
export function provisioningRequestFilter(prefix?: string): string {
  return withPrefix(prefix, 'provisioning/+/req');
}

/** An MQTT 5 shared subscription (`$share/<group>/<filter>`) so ingress replicas split load. */
export function sharedSubscription(group: string, filter: string): string {
  assertValidId('group', group);
  return `$share/${group}/${filter}`;
}
