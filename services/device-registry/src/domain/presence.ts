// Connectivity from presence messages. The ingress's receipt time orders the messages (they
// may arrive out of order across replicas; a last will carries no device time, and device
// clocks skew), and last_seen writes are coalesced because
// presence and reports arrive far more often than anyone needs last_seen to move.

/** Connectivity of a device. */
export type Connectivity = 'online' | 'offline' | 'unknown';

/** What the registry knows about a device when a presence arrives. */
export interface PresenceSnapshot {
  /** Current connectivity. */
  connectivity: Connectivity;
  /** Last activity (epoch ms) or null. */
  lastSeenMs: number | null;
  /** Device timestamp of the last applied presence (epoch ms) or null. */
  lastPresenceMs: number | null;
  /** Firmware version from the last online status. */
  firmwareVersion: string | null;
  /** Hardware model. */
  hardwareModel: string | null;
}

/** A presence message, reduced to what the rules need. */
export interface PresenceInput {
  /** online (after connect) or offline (last will). */
  state: 'online' | 'offline';
  /** Device timestamp, epoch ms. */
  tsMs: number;
  /** Sent with online. */
  firmwareVersion?: string;
  /** Optionally sent with online. */
  hardwareModel?: string;
}

/** Metadata that an online status changed. */
export interface MetaChanges {
  /** New firmware version. */
  firmware_version?: string;
  /** New hardware model. */
  hardware_model?: string;
}

/** What to do with a presence message. */
export type PresenceDecision =
  | {
      /** Nothing to write: older than the last applied one, or a repeat inside the window. */
      kind: 'ignore';
      /** Why. */
      reason: 'out_of_order' | 'coalesced';
    }
  | {
      /** Write the snapshot below. */
      kind: 'apply';
      /** New connectivity. */
      connectivity: 'online' | 'offline';
      /** The event to emit, only on a real transition. */
      transition: 'connected' | 'disconnected' | null;
      /** New last_seen (epoch ms). */
      lastSeenMs: number;
      /** New last presence timestamp (epoch ms). */
      lastPresenceMs: number;
      /** Firmware/model changes (a `device.updated` when not empty). */
      changes: MetaChanges;
    };

/**
 * The new last_seen for activity at `tsMs`, or null when the write can be skipped because the
 * stored value is less than `coalesceMs` older (or newer already).
 */
export function coalesceLastSeen(
  lastSeenMs: number | null,
  tsMs: number,
  coalesceMs: number,
): number | null {
  if (lastSeenMs === null) return tsMs;
  return tsMs - lastSeenMs >= coalesceMs ? tsMs : null;
}

function metaChanges(current: PresenceSnapshot, input: PresenceInput): MetaChanges {
  const changes: MetaChanges = {};
  if (input.state !== 'online') return changes;
  if (input.firmwareVersion !== undefined && input.firmwareVersion !== current.firmwareVersion) {
    changes.firmware_version = input.firmwareVersion;
  }
  if (input.hardwareModel !== undefined && input.hardwareModel !== current.hardwareModel) {
    changes.hardware_model = input.hardwareModel;
  }
  return changes;
}

/** Decides how a presence message changes the device. */
export function applyPresence(
  current: PresenceSnapshot,
  input: PresenceInput,
  coalesceMs: number,
): PresenceDecision {
  if (current.lastPresenceMs !== null && input.tsMs < current.lastPresenceMs) {
    return { kind: 'ignore', reason: 'out_of_order' };
  }
  const changes = metaChanges(current, input);
  const changed = input.state !== current.connectivity;
  const seen = changed
    ? Math.max(input.tsMs, current.lastSeenMs ?? input.tsMs)
    : coalesceLastSeen(current.lastSeenMs, input.tsMs, coalesceMs);
  if (!changed && seen === null && Object.keys(changes).length === 0) {
    return { kind: 'ignore', reason: 'coalesced' };
  }
  return {
    kind: 'apply',
    connectivity: input.state,
    transition: changed ? (input.state === 'online' ? 'connected' : 'disconnected') : null,
    lastSeenMs: seen ?? (current.lastSeenMs as number),
    lastPresenceMs: input.tsMs,
    changes,
  };
}

/** Outcome of one presence message. */
export type PresenceOutcome = 'applied' | 'out_of_order' | 'coalesced';

/** A presence of a {@link foldPresence} that changes the device: what its events say. */
export interface AppliedPresence {
  /** Position of its input. */
  index: number;
  /** The transition it makes (a `device.connected` / `device.disconnected`), or null. */
  transition: 'connected' | 'disconnected' | null;
  /** Firmware/model changes (a `device.updated` when not empty). */
  changes: MetaChanges;
  /** Firmware version once it is applied (carried by the transition's event). */
  firmwareVersion: string | null;
}

/** Several presence messages of one device, decided one after the other. */
export interface PresenceFold {
  /** Outcome of each input, in input order. */
  outcomes: PresenceOutcome[];
  /** The inputs that change the device, in input order. */
  applied: AppliedPresence[];
  /** The device after all of them (to be written once, when `applied` is not empty). */
  final: PresenceSnapshot;
  /** Whether a registry-visible property changed (connectivity, firmware, model). */
  touched: boolean;
}

/**
 * Decides `inputs` (in arrival order) on `start`, each on the device as the previous one left
 * it: the same outcomes and events as applying them one by one, and one write for all.
 */
export function foldPresence(
  start: PresenceSnapshot,
  inputs: readonly PresenceInput[],
  coalesceMs: number,
): PresenceFold {
  let current = start;
  const outcomes: PresenceOutcome[] = [];
  const applied: AppliedPresence[] = [];
  let touched = false;
  inputs.forEach((input, index) => {
    const decision = applyPresence(current, input, coalesceMs);
    if (decision.kind === 'ignore') {
      outcomes.push(decision.reason);
      return;
    }
    const firmwareVersion = decision.changes.firmware_version ?? current.firmwareVersion;
    current = {
      connectivity: decision.connectivity,
      lastSeenMs: decision.lastSeenMs,
      lastPresenceMs: decision.lastPresenceMs,
      firmwareVersion,
      hardwareModel: decision.changes.hardware_model ?? current.hardwareModel,
    };
    touched ||= decision.transition !== null || Object.keys(decision.changes).length > 0;
    outcomes.push('applied');
    applied.push({
      index,
      transition: decision.transition,
      changes: decision.changes,
      firmwareVersion,
    });
  });
  return { outcomes, applied, final: current, touched };
}
