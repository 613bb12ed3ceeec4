// What every use case needs, and the unit of work: one Postgres transaction for the change and
// its outbox rows, then (after commit only) cache invalidation and a nudge to the relay.
import { type Kysely, type Transaction } from 'kysely';
import { createEvent, type EventDefinition, type Naming } from '@drover/contracts';
import { getContext, type Logger } from '@drover/observability';
import { type TObject, type Static } from '@sinclair/typebox';
import { type DeviceCache, type DeviceKey } from '../adapters/redis/device.cache';
import { type DB } from '../adapters/postgres/schema';

/** The service name, also the CloudEvents `source`. */
export const SERVICE_NAME = 'device-registry';

/** Dependencies of the use cases. */
export interface RegistryContext {
  /** The registry's database. */
  db: Kysely<DB>;
  /** Bus naming (desired-state subjects). */
  naming: Naming;
  /** Hot metadata cache. */
  cache: DeviceCache;
  /** Nudges the outbox relay after a commit. */
  notifyOutbox: () => void;
  /** Logger. */
  logger: Logger;
  /** last_seen write coalescing window. */
  coalesceMs: number;
  /** Clock (tests may pin it). */
  now: () => Date;
}

/** Collects what to do once the transaction has committed. */
export interface AfterCommit {
  /** Devices whose cache entries must go. */
  invalidate(key: DeviceKey): void;
  /** Marks that outbox rows were written. */
  outbox(): void;
}

/** Runs `work` in one transaction; after commit, invalidates caches and wakes the relay. */
export async function unitOfWork<T>(
  ctx: RegistryContext,
  work: (trx: Transaction<DB>, after: AfterCommit) => Promise<T>,
): Promise<T> {
  const keys: DeviceKey[] = [];
  let wroteOutbox = false;
  const after: AfterCommit = {
    invalidate: (key) => keys.push(key),
    outbox: () => {
      wroteOutbox = true;
    },
  };
  const result = await ctx.db.transaction().execute((trx) => work(trx, after));
  // Cache first, then wake the relay: a consumer that reacts to the event by reading the
  // device (the ingress' meta cache) must not find the old entry still in Redis.
  await ctx.cache.invalidate(keys);
  if (wroteOutbox) ctx.notifyOutbox();
  return result;
}

/** A CloudEvent from this service, carrying the current correlation id. */
export function registryEvent<S extends TObject>(
  def: EventDefinition<S>,
  tenant: string,
  deviceId: string,
  data: Static<S>,
) {
  const { correlationId } = getContext();
  // Callers choose correlation ids (X-Correlation-Id); one the envelope cannot carry must not
  // fail the change, so it is left out.
  const usable =
    correlationId !== undefined && correlationId.length >= 1 && correlationId.length <= 128;
  return createEvent(def, {
    tenant,
    source: SERVICE_NAME,
    subject: deviceId,
    data,
    ...(usable && { correlationId }),
  });
}
