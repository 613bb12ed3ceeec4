// The unit-of-work context (correlation id, device, tenant) carried across async boundaries,
// and the correlation ids minted for it.
import { AsyncLocalStorage } from 'node:async_hooks';
import { context as otelContext } from '@opentelemetry/api';
import { monotonicUlidFactory } from '@drover/contracts';

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

/**
 * Captures the current unit-of-work context and trace context; the function returned runs `fn`
 * in them (work queued now and done later, in a batch, keeps its message's correlation and
 * trace). Cheaper than `AsyncResource.bind`/`AsyncLocalStorage.snapshot`, which build
 * deprecation wrappers on every call in Node 20.
 */
export function captureContext(): <T>(fn: () => T) => T {
  const store = storage.getStore();
  const trace = otelContext.active();
  return (fn) => otelContext.with(trace, () => (store ? storage.run(store, fn) : fn()));
}

// Pooled-randomness ULIDs (@drover/contracts): no crypto call per character.
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
