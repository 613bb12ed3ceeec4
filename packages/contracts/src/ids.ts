// Ids: the pattern every subject/topic token obeys, its checks, and the ULIDs the platform mints.
import { randomFillSync } from 'node:crypto';

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

// ULIDs with the randomness drawn from a pooled buffer. `ulid` 3 calls crypto.randomFillSync
// once per character (16 per id): a few percent of a service's CPU at load. Here one call
// fills POOL_BYTES and each id takes 16 bytes of it (5 bits each: 256 is a multiple of 32, so
// every digit stays uniform).
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const POOL_BYTES = 8192;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let poolPos = POOL_BYTES;

function fillRandom(digits: Uint8Array): void {
  if (poolPos + digits.length > POOL_BYTES) {
    randomFillSync(pool);
    poolPos = 0;
  }
  for (let i = 0; i < digits.length; i++) digits[i] = (pool[poolPos++] as number) & 31;
}

function encodeTime(ms: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = (CROCKFORD[ms % 32] as string) + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

/**
 * A monotonic ULID generator (the format and ordering of `ulid`'s `monotonicFactory`): a new
 * millisecond draws 80 fresh random bits, a repeat (or a clock step back) increments the last
 * id's random part, so the ids of one generator strictly increase. `now` is for tests.
 */
export function monotonicUlidFactory(now: () => number = Date.now): () => string {
  let lastTime = -1;
  let timePart = '';
  const digits = new Uint8Array(16);
  return () => {
    const t = now();
    if (t > lastTime) {
      lastTime = t;
      timePart = encodeTime(t);
      fillRandom(digits);
    } else {
      let i = digits.length - 1;
      while (i >= 0 && digits[i] === 31) digits[i--] = 0;
      if (i < 0) throw new Error('ULID random part overflow within one millisecond');
      (digits[i] as number)++;
    }
    let out = timePart;
    for (let i = 0; i < digits.length; i++) out += CROCKFORD[digits[i] as number] as string;
    return out;
  };
}

// Monotonic within a process, so ids minted in one transaction sort in creation order.
const nextUlid = monotonicUlidFactory();

/** A new ULID (event ids, correlation ids, command ids). */
export function newUlid(): string {
  return nextUlid();
}

/** A new device id as the registry mints them: `d-` + lower-case ULID. */
export function newDeviceId(): string {
  return `d-${nextUlid().toLowerCase()}`;
}
