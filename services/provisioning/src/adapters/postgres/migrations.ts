// Every migration of the provisioning schema, by name (applied in name order).
import { type Migration } from 'kysely/migration';
import { outboxMigration } from '@drover/bus';
import * as initial from './migrations/202611260700_initial';

/** Migrations for `migrate(db, {schema, migrations})`. */
export const provisioningMigrations: Record<string, Migration> = {
  '202611260700_initial': initial,
  '202611260701_outbox': outboxMigration,
};
