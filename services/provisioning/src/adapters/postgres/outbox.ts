// The service's door to the @drover/bus outbox: events and device-bound messages are written in
// the caller's transaction, so they are published if and only if it commits.
import { type Kysely } from 'kysely';
import { type CloudEvent } from '@drover/contracts';
import { enqueueEvents, enqueueMessages, type OutboxMessage } from '@drover/bus';
import { type DB, type Executor } from './schema';

// The bus takes a Kysely; a Transaction is one at run time, but its declared type is not
// assignable across the two packages' generics.
const asKysely = (trx: Executor) => trx as unknown as Kysely<DB>;

/** Enqueues domain events (validated by the bus against their schemas). */
export async function outboxEvents(trx: Executor, events: CloudEvent<unknown>[]): Promise<void> {
  await enqueueEvents(asKysely(trx), events);
}

/** Enqueues raw messages (commands on COMMANDS, renewal answers on DEVICE). */
export async function outboxMessages(trx: Executor, messages: OutboxMessage[]): Promise<void> {
  await enqueueMessages(asKysely(trx), messages);
}
