// What the rollout engine needs besides the shared context: its settings, the device registry
// (target resolution) and the command gateway (dispatch), both over RPC in production.
import {
  type BatchCommandItem,
  type CreateCommandRequest,
  type DeploymentTarget,
} from '@drover/contracts';
import { type CandidateDevice } from '../domain/rollout-plan';
import { type OtaContext } from '../service/ota.context';
import { type RolloutMetrics } from './rollout.metrics';

/** Tunables of the engine (from the config). */
export interface RolloutSettings {
  /** Upper bound of the driver's sleep. */
  tickMs: number;
  /** Lease of a deployment while one replica drives it. */
  leaseMs: number;
  /** Default commands per second per deployment. */
  ratePerS: number;
  /** Concurrent create_command calls of one dispatch. */
  dispatchConcurrency: number;
  /** Lifetime of a device's download URL. */
  downloadTtlS: number;
}

/** Resolves a target to candidate devices (the device registry). */
export interface DeviceDirectory {
  /** Every device of the target of that type, eligible or not. */
  resolve(tenant: string, deviceType: string, target: DeploymentTarget): Promise<CandidateDevice[]>;
  /**
   * The same devices in the same order, handed over in pages as the registry gives them (the
   * next page is read while the caller handles this one); `resolve` is their concatenation.
   */
  resolvePages(
    tenant: string,
    deviceType: string,
    target: DeploymentTarget,
  ): AsyncIterable<CandidateDevice[]>;
}

/** Sends commands (the command gateway); idempotent by `idempotency_key`. */
export interface CommandSender {
  /** Creates the command (or finds the one with the same key); returns its id. */
  send(req: CreateCommandRequest): Promise<string>;
  /**
   * Creates up to 500 commands of one tenant in one call (`create_commands`); one outcome per
   * item in order: its command id, or the refusal of that item. Optional: without it every
   * command is sent alone.
   */
  sendMany?(
    tenant: string,
    commands: BatchCommandItem[],
  ): Promise<
    ({ commandId: string } | { error: { code: string; status: number; detail: string } })[]
  >;
}

/** The engine's context. */
export interface RolloutContext extends OtaContext {
  /** Settings. */
  settings: RolloutSettings;
  /** Target resolution. */
  directory: DeviceDirectory;
  /** Dispatch. */
  commands: CommandSender;
  /** This replica's lease owner id. */
  owner: string;
  /** Wakes the local driver (a deployment became due). */
  hint(): void;
  /** The engine's series. */
  metrics: RolloutMetrics;
}
