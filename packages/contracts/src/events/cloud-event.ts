// CloudEvents 1.0 (JSON) envelopes for domain events, and the way each event type is defined:
// one TypeBox schema per type and version. Data is validated strictly when created (a producer's
// typo fails its tests) and tolerantly when parsed (a consumer on an older contracts version
// accepts fields added later within the same version).
import { type Static, type TObject, Type } from '@sinclair/typebox';
import { newUlid } from '../ids';
import { type Checker, compileChecker, formatIssue } from '../payloads/checker';
import { DateTime, Id } from '../payloads/common.schema';

/** A lower-case aggregate or event name: also a subject token. */
export const EVENT_NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;
/** `drover.<aggregate>.<name>.v<version>` */
export const EVENT_TYPE_PATTERN =
  /^drover\.([a-z][a-z0-9_]{0,63})\.([a-z][a-z0-9_]{0,63})\.v([1-9][0-9]{0,5})$/;

/** A CloudEvents 1.0 envelope as Drover publishes it. */
export interface CloudEvent<T = unknown> {
  /** Always `'1.0'`. */
  specversion: '1.0';
  /** ULID; also the `Nats-Msg-Id` (dedup). */
  id: string;
  /** The producing service, e.g. `device-registry`. */
  source: string;
  /** `drover.<aggregate>.<name>.v<version>` */
  type: string;
  /** When it happened (RFC 3339). */
  time: string;
  /** What it is about, usually the device id. */
  subject?: string;
  /** The tenant it belongs to (extension attribute). */
  tenant: string;
  /** Correlation id of the request that caused it (extension attribute). */
  correlationid?: string;
  /** W3C trace context of the producer (extension attribute). */
  traceparent?: string;
  /** Always `application/json`. */
  datacontenttype: 'application/json';
  /** The event's data, per its type's schema. */
  data: T;
}

/** The envelope schema (data checked separately against the type's schema). */
export const CloudEventEnvelope = Type.Object({
  specversion: Type.Literal('1.0'),
  id: Type.String({ pattern: '^[0-9A-HJKMNP-TV-Z]{26}$' }),
  source: Type.String({ minLength: 1, maxLength: 256 }),
  type: Type.String({ pattern: EVENT_TYPE_PATTERN.source }),
  time: DateTime,
  subject: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  tenant: Id,
  correlationid: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  traceparent: Type.Optional(
    Type.String({ pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$' }),
  ),
  datacontenttype: Type.Literal('application/json'),
  data: Type.Unknown(),
});

/** Compiled envelope checker. */
export const envelopeChecker = compileChecker(CloudEventEnvelope);

/** One event type and version. */
export interface EventDefinition<S extends TObject = TObject> {
  /** Aggregate, e.g. `device`. */
  readonly aggregate: string;
  /** Event name within the aggregate, e.g. `registered`. */
  readonly name: string;
  /** Schema version (a breaking change is a new version). */
  readonly version: number;
  /** `drover.<aggregate>.<name>.v<version>` */
  readonly type: string;
  /** The data schema (for docs, OpenAPI, SSE). */
  readonly schema: S;
  /** Tolerant data checker (unknown extra fields allowed), used when consuming. */
  readonly data: Checker<S>;
  /** Strict data checker (no unknown fields), used when producing. */
  readonly strictData: Checker<TObject>;
}

/** Data type of an event definition. */
export type EventData<D> = D extends EventDefinition<infer S> ? Static<S> : never;

/** Defines an event type; compiles its schema once. */
export function defineEvent<S extends TObject>(def: {
  aggregate: string;
  name: string;
  version: number;
  schema: S;
}): EventDefinition<S> {
  const { aggregate, name, version, schema } = def;
  if (!EVENT_NAME_PATTERN.test(aggregate)) throw new Error(`bad event aggregate ${aggregate}`);
  if (!EVENT_NAME_PATTERN.test(name)) throw new Error(`bad event name ${name}`);
  if (!Number.isInteger(version) || version < 1) throw new Error(`bad event version ${version}`);
  return Object.freeze({
    aggregate,
    name,
    version,
    type: `drover.${aggregate}.${name}.v${version}`,
    schema,
    data: compileChecker(schema),
    strictData: compileChecker(Type.Object(schema.properties, { additionalProperties: false })),
  });
}

/** Thrown by `createEvent` when the envelope or data is invalid (a producer bug). */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
  /** The event type being created. */
  readonly type: string;

  constructor(type: string, detail: string) {
    super(`invalid ${type} event: ${detail}`);
    this.type = type;
  }
}

/** Input of `createEvent`. */
export interface CreateEventInput<T> {
  /** Tenant the event belongs to. */
  tenant: string;
  /** Producing service. */
  source: string;
  /** What it is about (usually the device id). */
  subject?: string;
  /** The data, validated strictly against the definition. */
  data: T;
  /** Correlation id of the causing request. */
  correlationId?: string;
  /** W3C traceparent of the producing span. */
  traceparent?: string;
  /** Event id (default: a new ULID). */
  id?: string;
  /** Event time (default: now). */
  time?: string | Date;
}

/** Builds and validates an event envelope; throws `InvalidEventError` on bad input. */
export function createEvent<S extends TObject>(
  def: EventDefinition<S>,
  input: CreateEventInput<Static<S>>,
): CloudEvent<Static<S>> {
  const time =
    input.time instanceof Date
      ? input.time.toISOString()
      : (input.time ?? new Date().toISOString());
  const event: CloudEvent<Static<S>> = {
    specversion: '1.0',
    id: input.id ?? newUlid(),
    source: input.source,
    type: def.type,
    time,
    ...(input.subject !== undefined && { subject: input.subject }),
    tenant: input.tenant,
    ...(input.correlationId !== undefined && { correlationid: input.correlationId }),
    ...(input.traceparent !== undefined && { traceparent: input.traceparent }),
    datacontenttype: 'application/json',
    data: input.data,
  };
  // The compiled check first: the issue iterator is many times slower and only the rejection
  // path needs it (it showed in the command gateway's CPU profile on every event).
  if (envelopeChecker.check(event) && def.strictData.check(input.data)) return event;
  const envelopeIssue = envelopeChecker.firstError(event);
  if (envelopeIssue !== null) throw new InvalidEventError(def.type, formatIssue(envelopeIssue));
  const dataIssue = def.strictData.firstError(input.data);
  if (dataIssue !== null) {
    const issue = { path: `/data${dataIssue.path}`, message: dataIssue.message };
    throw new InvalidEventError(def.type, formatIssue(issue));
  }
  return event;
}

/** The parts of an event type; `null` if it is not `drover.<aggregate>.<name>.v<n>`. */
export function parseEventType(
  type: string,
): { aggregate: string; name: string; version: number } | null {
  const m = typeof type === 'string' ? EVENT_TYPE_PATTERN.exec(type) : null;
  return m === null ? null : { aggregate: m[1]!, name: m[2]!, version: Number(m[3]) };
}

/** Narrows a parsed event to one definition's data type. */
export function isEventOf<S extends TObject>(
  event: CloudEvent,
  def: EventDefinition<S>,
): event is CloudEvent<Static<S>> {
  return event.type === def.type;
}
