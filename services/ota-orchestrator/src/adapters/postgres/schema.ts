// The database interface of the ota_orchestrator schema, for Kysely<DB>.
// The firmware registry's tables (src/adapters/postgres/firmware.table.ts) are added here.
import { type Kysely, type Transaction } from 'kysely';
import { type OutboxDb } from '@drover/bus';
import { type DeploymentDeviceTable, type DeploymentTable } from './deployment.table';
import { type FirmwareTable } from './firmware.table';

/** Every table the orchestrator owns. */
export interface DB extends OutboxDb {
  /** Registered firmware images. */
  firmware: FirmwareTable;
  /** Deployments. */
  deployments: DeploymentTable;
  /** Per-device state of each deployment. */
  deployment_devices: DeploymentDeviceTable;
}

/** A connection or a transaction. */
export type Executor = Kysely<DB> | Transaction<DB>;
