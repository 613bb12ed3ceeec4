// The unit-of-work context (correlation id, device, tenant) carried across async boundaries,
// and the correlation ids minted for it.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomFillSync } from 'node:crypto';

/** What a unit of work carries across async boundaries, for logs and outgoing messages. */
export interface DroverContext {
  /** Ties together every log line and message caused by one request or event. */
  correlationId?: string;
  /** Device the work is about (a device id, never a hardware id). */
  deviceId?: string;
  /** Tenant the work belongs to. */
  tenant?: string;
}

const storage = new AsyncLocalStorage<DroverContext>();

/**
 * Runs `fn` with `ctx` as the current context. Fields not given are inherited from the
 * enclosing context, so a handler can add a device id without losing the correlation id.
 */
export function runWithContext<T>(ctx: DroverContext, fn: () => T): T {
  const parent = storage.getStore();
  return storage.run({ ...parent, ...stripUndefined(ctx) }, fn);
}

/** The current context; an empty object outside of `runWithContext`. */
export function getContext(): DroverContext {
  return storage.getStore() ?? {};
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

const nextCorrelationId = monotonicUlidFactory();

/**
 * A fresh correlation id: a ULID, monotonic within the process, so ids sort by creation time
 * (and by creation order within a millisecond).
 */
export function newCorrelationId(): string {
  return nextCorrelationId();
}

function stripUndefined(ctx: DroverContext): DroverContext {
  const out: DroverContext = {};
  if (ctx.correlationId !== undefined) out.correlationId = ctx.correlationId;
  if (ctx.deviceId !== undefined) out.deviceId = ctx.deviceId;
  if (ctx.tenant !== undefined) out.tenant = ctx.tenant;
  return out;
}
