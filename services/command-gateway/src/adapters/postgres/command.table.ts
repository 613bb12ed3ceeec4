// Typed tables of the command_gateway schema.
import { type ColumnType, type Generated, type Insertable, type Selectable } from 'kysely';
import { type CommandStatus } from '../../domain/command-state';

type Ts = ColumnType<Date, Date | string, Date | string>;
type NullableTs = ColumnType<Date | null, Date | string | null, Date | string | null>;
type Json = ColumnType<unknown, string, string>;

/** One command and its timers. */
export interface CommandTable {
  /** ULID; also the MQTT msg_id. */
  command_id: string;
  /** Tenant. */
  tenant: string;
  /** Target device. */
  device_id: string;
  /** Its device type (from the registry at creation). */
  device_type: string;
  /** Command name. */
  name: string;
  /** Parameters (JSON object). */
  params: Json;
  /** Lifecycle state. */
  status: CommandStatus;
  /** Times handed to the bus. */
  attempts: Generated<number>;
  /** Whether the device answered anything (stops resends). */
  answered: Generated<boolean>;
  /** Accepted by the gateway. */
  created_at: Ts;
  /** First handed to the bus. */
  dispatched_at: NullableTs;
  /** First broker ack. */
  sent_at: NullableTs;
  /** Device said accepted. */
  accepted_at: NullableTs;
  /** Final state reached. */
  completed_at: NullableTs;
  /** Never sent after this. */
  expires_at: Ts;
  /** Seconds from sending to the time-out. */
  timeout_s: number;
  /** Next send/resend; null = parked until the device connects. */
  next_attempt_at: NullableTs;
  /** Time-out (or expiry while never sent). */
  deadline_at: NullableTs;
  /** least(next_attempt_at, deadline_at), generated. */
  due_at: ColumnType<Date | null, never, never>;
  /** The device's result object. */
  result: ColumnType<unknown, string | null, string | null>;
  /** The device's error or the platform's reason. */
  error: string | null;
  /** Sent -> final result (ms). */
  rtt_ms: number | null;
  /** Caller's dedup key, unique per tenant. */
  idempotency_key: string | null;
  /** Group fan-out the command belongs to. */
  fanout_id: string | null;
}
/** A command row. */
export type CommandRow = Selectable<CommandTable>;
/** A new command row. */
export type NewCommandRow = Insertable<CommandTable>;

/** Last known presence per device (from the DEVICE stream, never polled). */
export interface DevicePresenceTable {
  /** Tenant. */
  tenant: string;
  /** Device. */
  device_id: string;
  /** Online according to the latest presence message. */
  online: boolean;
  /** Device timestamp of that message (older ones are ignored). */
  ts: Ts;
}

/** A group fan-out. */
export interface FanoutTable {
  /** ULID. */
  fanout_id: string;
  /** Tenant. */
  tenant: string;
  /** Registry group. */
  group_id: string;
  /** Command name. */
  name: string;
  /** Release rate. */
  rate_per_s: number;
  /** Commands created. */
  total: number;
  /** Created. */
  created_at: Ts;
  /** Caller's dedup key, unique per tenant (a retried fan-out finds the first). */
  idempotency_key: ColumnType<string | null, string | null | undefined, string | null>;
}
/** A fan-out row. */
export type FanoutRow = Selectable<FanoutTable>;
