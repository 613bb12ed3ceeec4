import { type ColumnType, type Selectable, sql } from 'kysely';
import { type Migration } from 'kysely/migration';

/** The telemetry table (range-partitioned by day on ts). */
export interface TelemetryTable {
  /** Tenant id. */
  tenant: string;
  /** Device id. */
  device_id: string;
  /** Device message id. */
  msg_id: string;
  /** Device time. */
  ts: ColumnType<Date, Date | string, never>;
  /** Ingress receive time. */
  received_at: ColumnType<Date, Date | string, never>;
  /** Flat metric map. */
  metrics: ColumnType<Record<string, unknown>, string, never>;
}

/** The service's database. */
export interface TelemetryDb {
  /** Telemetry rows. */
  telemetry: TelemetryTable;
}

/** A stored row. */
export type TelemetrySelectable = Selectable<TelemetryTable>;

/**
 * The parent table. The primary key doubles as the dedup key of ON CONFLICT
 * (device_id, msg_id, ts) and, in this column order, as the index of per-device time queries.
 */
export const migrations: Record<string, Migration> = {
  '202611260600_telemetry': {
    async up(db) {
      await sql`
        CREATE TABLE telemetry (
          tenant text NOT NULL,
          device_id text NOT NULL,
          msg_id text NOT NULL,
          ts timestamptz NOT NULL,
          received_at timestamptz NOT NULL,
          metrics jsonb NOT NULL,
          PRIMARY KEY (device_id, ts, msg_id)
        ) PARTITION BY RANGE (ts)`.execute(db);
    },
  },
};
