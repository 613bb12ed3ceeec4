// Every migration of the device_registry schema, by name (applied in name order).
import { type Migration } from 'kysely/migration';
import { outboxMigration } from '@drover/bus';
import * as initial from './migrations/202611260600_initial';

/** Migrations for `migrate(db, {schema, migrations})`. */
export const registryMigrations: Record<string, Migration> = {
  '202611260600_initial': initial,
  '202611260601_outbox': outboxMigration,
};
