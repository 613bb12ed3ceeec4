// Every migration of the command_gateway schema, by name (applied in name order).
import { type Migration } from 'kysely/migration';
import { outboxBatchMigration, outboxMigration } from '@drover/bus';
import * as initial from './migrations/202611260700_initial';
import * as fanoutIdempotency from './migrations/202611260900_fanout_idempotency';
import * as partialIndexes from './migrations/202611270600_partial_indexes';
import * as deviceCommandsIndex from './migrations/202611272200_device_commands_index';
import * as cancelled from './migrations/202611272230_cancelled';

/** Migrations for `migrate(db, {schema, migrations})`. */
export const commandMigrations: Record<string, Migration> = {
  '202611260700_initial': initial,
  '202611260701_outbox': outboxMigration,
  '202611260900_fanout_idempotency': fanoutIdempotency,
  '202611270600_partial_indexes': partialIndexes,
  '202611271000_outbox_batches': outboxBatchMigration,
  '202611272200_device_commands_index': deviceCommandsIndex,
  '202611272230_cancelled': cancelled,
};
