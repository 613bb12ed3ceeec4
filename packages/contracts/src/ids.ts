import { monotonicFactory } from 'ulid';

/** Tenants, device types, device ids, hardware ids and every other id that lands in a subject. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A ULID in canonical (upper case Crockford base32) form. */
export const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** Thrown by every subject/topic builder when an id could escape its level. */
export class InvalidIdError extends Error {
  override readonly name = 'InvalidIdError';
  /** What the id was meant to be (`tenant`, `deviceId`, ...). */
  readonly kind: string;
  /** The rejected value (kept for logs; never interpolated into a subject). */
  readonly value: unknown;

  constructor(kind: string, value: unknown) {
    super(`invalid ${kind}: ${describe(value)} (must match ${ID_PATTERN.source})`);
    this.kind = kind;
    this.value = value;
  }
}

function describe(value: unknown): string {
  if (typeof value !== 'string') return typeof value;
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return JSON.stringify(shown);
}

/** True when `s` is a string usable as one subject token / topic level. */
export function isValidId(s: unknown): s is string {
  return typeof s === 'string' && ID_PATTERN.test(s);
}

/** Throws `InvalidIdError` unless `s` is a valid id; `kind` names it in the error. */
export function assertValidId(kind: string, s: unknown): asserts s is string {
  if (!isValidId(s)) throw new InvalidIdError(kind, s);
}

// Monotonic within a process, so ids minted in one transaction sort in creation order.
const nextUlid = monotonicFactory();

/** A new ULID (event ids, correlation ids, command ids). */
export function newUlid(): string {
  return nextUlid();
}

/** A new device id as the registry mints them: `d-` + lower-case ULID. */
export function newDeviceId(): string {
  return `d-${nextUlid().toLowerCase()}`;
}
