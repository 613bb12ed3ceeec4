// Device-to-platform payloads of the device protocol, built purely: the same inputs give the
// same bodies, which the unit tests pin. Encoding to bytes is payload.codec.ts.
/** Payload encoding on the wire. */
export type Encoding = 'json' | 'cbor';

/** Common envelope fields. */
interface Envelope {
  msg_id: string;
  ts: number | string;
  schema_version: 1;
}

/**
 * The envelope of message `seq` of a device run: msg_id unique per device (the run id keeps
 * ids unique across restarts of the simulator), `ts` alternating epoch ms and RFC 3339 so the
 * platform sees both forms.
 */
export function envelope(runId: string, seq: number, nowMs: number): Envelope {
  return {
    msg_id: `${runId}-${seq}`,
    ts: seq % 2 === 0 ? nowMs : new Date(nowMs).toISOString(),
    schema_version: 1,
  };
}

/** Every `every`-th message of a device goes as CBOR (0 = never). */
export function encodingFor(seq: number, every: number): Encoding {
  return every > 0 && seq % every === every - 1 ? 'cbor' : 'json';
}

/** The retained online status sent right after connecting. */
export function onlineStatus(
  env: Envelope,
  firmwareVersion: string,
  hardwareModel: string,
): Record<string, unknown> {
  return {
    ...env,
    state: 'online',
    firmware_version: firmwareVersion,
    hardware_model: hardwareModel,
  };
}

/** The offline status: the last will (no envelope: it is fixed at connect time) and on stop. */
export const OFFLINE_STATUS = { state: 'offline' } as const;

/** A telemetry message. */
export function telemetry(
  env: Envelope,
  metrics: Record<string, number | string | boolean>,
): Record<string, unknown> {
  return { ...env, metrics };
}

/** A command result. */
export function commandResult(env: Envelope, result: CommandAnswer): Record<string, unknown> {
  return { ...env, cmd_id: result.cmdId, status: result.status, ...result.extra };
}

/** A reported-state message. */
export function reportedState(
  env: Envelope,
  state: Record<string, unknown>,
): Record<string, unknown> {
  return { ...env, state };
}

/** One answer on `cmd/res` (without envelope). */
export interface CommandAnswer {
  /** The command's msg_id. */
  cmdId: string;
  /** accepted, succeeded, failed or rejected. */
  status: 'accepted' | 'succeeded' | 'failed' | 'rejected';
  /** `result` and/or `error`. */
  extra: { result?: Record<string, unknown>; error?: string };
}

/** Firmware update states reported on `update_status`. */
export type UpdateState =
  | 'downloading'
  | 'downloaded'
  | 'installing'
  | 'rebooting'
  | 'succeeded'
  | 'failed'
  | 'rolled_back';

/** An `update_status` message (retained by the sender). */
export function updateStatus(
  env: Envelope,
  deploymentId: string,
  firmwareVersion: string,
  state: UpdateState,
  extra: { progress?: number; error?: string } = {},
): Record<string, unknown> {
  return {
    ...env,
    deployment_id: deploymentId,
    firmware_version: firmwareVersion,
    state,
    ...extra,
  };
}
