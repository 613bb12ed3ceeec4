// The orchestrator's door to the @drover/bus outbox: events are written in the caller's
// transaction, so they are published if and only if it commits.
import { type Kysely } from 'kysely';
import { type CloudEvent } from '@drover/contracts';
import { enqueueEvents, enqueueMessages, type OutboxMessage } from '@drover/bus';
import { type DB, type Executor } from './schema';

// A Transaction is a Kysely at run time; its declared type is not assignable across packages.
const asKysely = (trx: Executor) => trx as unknown as Kysely<DB>;

/** Enqueues domain events (validated by the bus against their schemas). */
export async function outboxEvents(trx: Executor, events: CloudEvent<unknown>[]): Promise<void> {
  if (events.length > 0) await enqueueEvents(asKysely(trx), events);
}

/** Enqueues raw messages. */
export async function outboxMessages(trx: Executor, messages: OutboxMessage[]): Promise<void> {
  if (messages.length > 0) await enqueueMessages(asKysely(trx), messages);
}
