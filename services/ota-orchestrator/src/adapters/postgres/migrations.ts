// Every migration of the ota_orchestrator schema, by name (applied in name order).
// The firmware registry's migration (src/adapters/postgres/migrations/202611261000_firmware.ts,
// owned by the firmware work) is listed here once it exists.
import { type Migration } from 'kysely/migration';
import { outboxMigration } from '@drover/bus';
import * as firmware from './migrations/202611261000_firmware';
import * as deployments from './migrations/202611261001_deployments';
import * as rollbackAttempts from './migrations/202611261700_rollback_attempts';

/** Migrations for `migrate(db, {schema, migrations})`. */
export const otaMigrations: Record<string, Migration> = {
  '202611261000_firmware': firmware,
  '202611261001_deployments': deployments,
  '202611261002_outbox': outboxMigration,
  '202611261700_rollback_attempts': rollbackAttempts,
};
