// What the use cases need, built once by app.ts (no DI container).
import { type Kysely } from 'kysely';
import { type Bus } from '@drover/bus';
import { type Naming } from '@drover/contracts';
import { type Logger } from '@drover/observability';
import { type DB } from '../adapters/postgres/schema';
import { type FirmwareCatalog } from '../firmware/firmware.catalog';

/** The service name (RPC service, event source, durable prefix). */
export const SERVICE_NAME = 'ota-orchestrator';

/** Use-case dependencies shared by the firmware registry and the rollout engine. */
export interface OtaContext {
  /** The orchestrator's schema. */
  db: Kysely<DB>;
  /** The bus (RPC to the registry and the command gateway). */
  bus: Bus;
  /** Namespace of the install. */
  naming: Naming;
  /** Logger. */
  logger: Logger;
  /** Clock. */
  now: () => Date;
  /** Nudges the outbox relay after a commit that wrote events. */
  notifyOutbox: () => void;
  /** The firmware registry as the rollout engine sees it. */
  catalog: FirmwareCatalog;
}
