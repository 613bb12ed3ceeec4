// What the use cases need, built once by app.ts (no DI container).
import { type Kysely } from 'kysely';
import { type OutboxRelay } from '@drover/bus';
import { type Naming } from '@drover/contracts';
import { type Logger } from '@drover/observability';
import { type BackoffPolicy } from '../domain/backoff';
import { type BatchRow, type VersionedRow } from '../adapters/postgres/command.repository';
import { type DB } from '../adapters/postgres/schema';
import { type CommandMetrics } from '../command.metrics';
import { type RowCache } from './row-cache';

/** The service name (RPC service, event source, durable prefix). */
export const SERVICE_NAME = 'command-gateway';

/** Device metadata the gateway needs from the registry. */
export interface DeviceMetaView {
  /** Device type (for the record). */
  deviceType: string;
  /** `active` or `decommissioned`. */
  status: string;
}

/** Use-case dependencies. */
export interface GatewayContext {
  /** The gateway's schema. */
  db: Kysely<DB>;
  /** Namespace of the install. */
  naming: Naming;
  /** Logger. */
  logger: Logger;
  /** Clock. */
  now: () => Date;
  /** Jitter source in [0, 1). */
  random: () => number;
  /** Wakes the outbox relay after a commit. */
  notifyOutbox: () => void;
  /**
   * Runs a write that inserts outbox rows and publishes the rows it inserted right after its
   * commit (the relay's `publishAfterCommit`): the latency-critical paths (create, device
   * reports) do not wait for a relay pass.
   */
  publishAfterCommit: OutboxRelay['publishAfterCommit'];
  /** Tells the scanner a timer at `at` exists (it wakes then at the latest). */
  hint: (at: Date) => void;
  /** Device meta from the registry (throws NotFoundError for an unknown device). */
  deviceMeta: (tenant: string, deviceId: string) => Promise<DeviceMetaView>;
  /** Loads devices' meta ahead of their first command (absent: looked up on first use). */
  prefetchDeviceMeta?: (tenant: string, deviceIds: string[]) => Promise<void>;
  /** Active member devices of a registry group. */
  groupDevices: (
    tenant: string,
    groupId: string,
  ) => Promise<{ deviceId: string; deviceType: string }[]>;
  /** Resend back-off. */
  backoff: BackoffPolicy;
  /** Defaults for new commands. */
  defaults: { timeoutS: number; expiresInS: number; groupRatePerS: number };
  /** Extra time a hand-over's deadline allows for the broker-ack report (see config). */
  sentReportGraceMs: number;
  /** Metric series. */
  metrics: CommandMetrics;
  /** Inserts an unkeyed create with others of its turn (absent: one statement per create). */
  createBatch?: (tenant: string, row: BatchRow) => Promise<VersionedRow>;
  /** Open commands as this gateway last wrote them (absent: every report reads its row). */
  rowCache?: RowCache;
}
