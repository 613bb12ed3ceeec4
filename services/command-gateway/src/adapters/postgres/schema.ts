// The database interface of the command_gateway schema, for Kysely<DB>.
import { type Kysely, type Transaction } from 'kysely';
import { type CommandTable, type DevicePresenceTable, type FanoutTable } from './command.table';

/** Every table the gateway owns (the outbox is written through @drover/bus). */
export interface DB {
  /** Commands. */
  commands: CommandTable;
  /** Presence. */
  device_presence: DevicePresenceTable;
  /** Fan-outs. */
  fanouts: FanoutTable;
}

/** A connection or a transaction. */
export type Executor = Kysely<DB> | Transaction<DB>;
