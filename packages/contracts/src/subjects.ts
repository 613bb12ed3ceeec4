// The only place NATS subject strings are written. Every builder validates its ids so a
// tenant or device id can never inject a `.`, `*` or `>` into a subject.
import { assertValidId, isValidId } from './ids';
import { NAMESPACE_PATTERN, type Naming } from './naming';

/** Kinds of raw device traffic the ingress republishes on the DEVICE stream. */
export const DEVICE_SUBJECT_KINDS = [
  'presence',
  'update_status',
  'cmd_res',
  'state_reported',
  'cert_renew',
  // The ingress's report that the broker acknowledged (PUBACK) a command towards a device.
  'cmd_sent',
  // Provisioning's answer to a `cert_renew`; the ingress publishes it on `<root>/cert/renew/res`.
  'cert_renew_res',
] as const;
/** One of `DEVICE_SUBJECT_KINDS`. */
export type DeviceSubjectKind = (typeof DEVICE_SUBJECT_KINDS)[number];

const deviceKinds: ReadonlySet<string> = new Set(DEVICE_SUBJECT_KINDS);

/** `iot.telemetry.<tenant>.<deviceType>.<deviceId>` */
export function telemetrySubject(
  n: Naming,
  tenant: string,
  deviceType: string,
  deviceId: string,
): string {
  assertValidId('tenant', tenant);
  assertValidId('deviceType', deviceType);
  assertValidId('deviceId', deviceId);
  return n.subject(`iot.telemetry.${tenant}.${deviceType}.${deviceId}`);
}

/** `iot.cmd.<tenant>.<deviceId>` */
export function commandSubject(n: Naming, tenant: string, deviceId: string): string {
  assertValidId('tenant', tenant);
  assertValidId('deviceId', deviceId);
  return n.subject(`iot.cmd.${tenant}.${deviceId}`);
}

/** `iot.desired.<tenant>.<deviceId>` */
export function desiredSubject(n: Naming, tenant: string, deviceId: string): string {
  assertValidId('tenant', tenant);
  assertValidId('deviceId', deviceId);
  return n.subject(`iot.desired.${tenant}.${deviceId}`);
}

/** `iot.device.<tenant>.<kind>.<deviceId>` */
export function deviceSubject(
  n: Naming,
  kind: DeviceSubjectKind,
  tenant: string,
  deviceId: string,
): string {
  if (!deviceKinds.has(kind)) throw new Error(`unknown device subject kind ${String(kind)}`);
  assertValidId('tenant', tenant);
  assertValidId('deviceId', deviceId);
  return n.subject(`iot.device.${tenant}.${kind}.${deviceId}`);
}

/** `iot.evt.<tenant>.<aggregate>.<event>` */
export function eventSubject(n: Naming, tenant: string, aggregate: string, event: string): string {
  assertValidId('tenant', tenant);
  assertValidId('aggregate', aggregate);
  assertValidId('event', event);
  return n.subject(`iot.evt.${tenant}.${aggregate}.${event}`);
}

/**
 * `iot.ingress.<shareGroup>.members`: core NATS, no stream. The ingress replicas of one MQTT
 * share group answer on it whether they are up and not stopping (a stopping replica hands its
 * share of the device traffic to the others only when one answers so).
 */
export function ingressMembersSubject(n: Naming, shareGroup: string): string {
  assertValidId('shareGroup', shareGroup);
  return n.subject(`iot.ingress.${shareGroup}.members`);
}

/** `iot.rpc.<service>.<operation>` */
export function rpcSubject(n: Naming, service: string, operation: string): string {
  assertValidId('service', service);
  assertValidId('operation', operation);
  return n.subject(`iot.rpc.${service}.${operation}`);
}

/** `iot.dlq.<stream>.<consumer>` */
export function dlqSubject(n: Naming, stream: string, consumer: string): string {
  assertValidId('stream', stream);
  assertValidId('consumer', consumer);
  return n.subject(`iot.dlq.${stream}.${consumer}`);
}

// ---- filters (for stream configs and consumers) ----

function token(kind: string, value: string | undefined): string {
  if (value === undefined) return '*';
  assertValidId(kind, value);
  return value;
}

/** Telemetry filter: `iot.telemetry.>` or narrowed by tenant and/or device type. */
export function telemetryFilter(n: Naming, tenant?: string, deviceType?: string): string {
  if (tenant === undefined && deviceType === undefined) return n.subject('iot.telemetry.>');
  return n.subject(`iot.telemetry.${token('tenant', tenant)}.${token('deviceType', deviceType)}.*`);
}

/** Command filter: `iot.cmd.>` or `iot.cmd.<tenant>.*`. */
export function commandFilter(n: Naming, tenant?: string): string {
  return n.subject(tenant === undefined ? 'iot.cmd.>' : `iot.cmd.${token('tenant', tenant)}.*`);
}

/** Desired-state filter: `iot.desired.>` or `iot.desired.<tenant>.*`. */
export function desiredFilter(n: Naming, tenant?: string): string {
  return n.subject(
    tenant === undefined ? 'iot.desired.>' : `iot.desired.${token('tenant', tenant)}.*`,
  );
}

/** Device traffic filter: `iot.device.>` or `iot.device.<tenant|*>.<kind>.*`. */
export function deviceFilter(n: Naming, kind?: DeviceSubjectKind, tenant?: string): string {
  if (kind === undefined && tenant === undefined) return n.subject('iot.device.>');
  if (kind !== undefined && !deviceKinds.has(kind)) throw new Error(`unknown kind ${kind}`);
  return n.subject(`iot.device.${token('tenant', tenant)}.${kind ?? '*'}.*`);
}

/** Event filter: `iot.evt.>` or `iot.evt.<tenant|*>.<aggregate|*>.<event|*>`. */
export function eventFilter(
  n: Naming,
  f: { tenant?: string; aggregate?: string; event?: string } = {},
): string {
  if (f.tenant === undefined && f.aggregate === undefined && f.event === undefined) {
    return n.subject('iot.evt.>');
  }
  return n.subject(
    `iot.evt.${token('tenant', f.tenant)}.${token('aggregate', f.aggregate)}.${token('event', f.event)}`,
  );
}

/** Every operation of one RPC service: `iot.rpc.<service>.*`. */
export function rpcFilter(n: Naming, service: string): string {
  assertValidId('service', service);
  return n.subject(`iot.rpc.${service}.*`);
}

/** Every DLQ record: `iot.dlq.>`. */
export function dlqFilter(n: Naming): string {
  return n.subject('iot.dlq.>');
}

// ---- parsers (return null for anything malformed) ----

/** A parsed `iot.telemetry.…` subject. */
export interface TelemetrySubject {
  /** Tenant id. */
  tenant: string;
  /** Device type id. */
  deviceType: string;
  /** Device id. */
  deviceId: string;
}

/** A parsed `iot.device.…` subject. */
export interface DeviceSubject {
  /** Tenant id. */
  tenant: string;
  /** What the device sent. */
  kind: DeviceSubjectKind;
  /** Device id. */
  deviceId: string;
}

/** A parsed `iot.evt.…` subject. */
export interface EventSubject {
  /** Tenant id. */
  tenant: string;
  /** Aggregate (`device`, `telemetry`, …). */
  aggregate: string;
  /** Event name within the aggregate (`registered`, …). */
  event: string;
}

type SubjectArgs = [subject: string, n?: Naming] | [n: Naming, subject: string];

/**
 * Splits a subject into its tokens after `iot.<family>`. With a naming, its prefix is required;
 * without one, a single leading namespace token is tolerated (consumers of a namespaced stream).
 */
function tokensAfter(args: SubjectArgs, family: string, count: number): string[] | null {
  const [subject, n] =
    typeof args[0] === 'string'
      ? [args[0], args[1] as Naming | undefined]
      : [args[1] as string, args[0]];
  if (typeof subject !== 'string') return null;
  let parts = subject.split('.');
  if (n !== undefined && n.ns !== '') {
    if (parts[0] !== n.ns) return null;
    parts = parts.slice(1);
  } else if (
    n === undefined &&
    parts.length === count + 3 &&
    parts[1] === 'iot' &&
    NAMESPACE_PATTERN.test(parts[0]!)
  ) {
    parts = parts.slice(1);
  }
  if (parts.length !== count + 2 || parts[0] !== 'iot' || parts[1] !== family) return null;
  const rest = parts.slice(2);
  return rest.every(isValidId) ? rest : null;
}

/** Parses `iot.telemetry.<t>.<type>.<id>`; accepts `(subject, naming?)` or `(naming, subject)`. */
export function parseTelemetrySubject(...args: SubjectArgs): TelemetrySubject | null {
  const t = tokensAfter(args, 'telemetry', 3);
  return t ? { tenant: t[0]!, deviceType: t[1]!, deviceId: t[2]! } : null;
}

/** Parses `iot.device.<t>.<kind>.<id>`; accepts `(subject, naming?)` or `(naming, subject)`. */
export function parseDeviceSubject(...args: SubjectArgs): DeviceSubject | null {
  const t = tokensAfter(args, 'device', 3);
  if (!t || !deviceKinds.has(t[1]!)) return null;
  return { tenant: t[0]!, kind: t[1] as DeviceSubjectKind, deviceId: t[2]! };
}

/** Parses `iot.evt.<t>.<aggregate>.<event>`; accepts `(subject, naming?)` or `(naming, subject)`. */
export function parseEventSubject(...args: SubjectArgs): EventSubject | null {
  const t = tokensAfter(args, 'evt', 3);
  return t ? { tenant: t[0]!, aggregate: t[1]!, event: t[2]! } : null;
}

/** A parsed `iot.cmd.…` or `iot.desired.…` subject. */
export interface DeviceAddressSubject {
  /** Tenant id. */
  tenant: string;
  /** Device id. */
  deviceId: string;
}

/** Parses `iot.cmd.<t>.<id>`; accepts `(subject, naming?)` or `(naming, subject)`. */
export function parseCommandSubject(...args: SubjectArgs): DeviceAddressSubject | null {
  const t = tokensAfter(args, 'cmd', 2);
  return t ? { tenant: t[0]!, deviceId: t[1]! } : null;
}

/** Parses `iot.desired.<t>.<id>`; accepts `(subject, naming?)` or `(naming, subject)`. */
export function parseDesiredSubject(...args: SubjectArgs): DeviceAddressSubject | null {
  const t = tokensAfter(args, 'desired', 2);
  return t ? { tenant: t[0]!, deviceId: t[1]! } : null;
}
