// Desired/reported state rules: versioning, optimistic concurrency, deep delta, merge of reports.
import { jsonClone, jsonEqual } from './json';
import mergePatch from 'json-merge-patch';
import { conflict, invalid } from './errors';

/** A JSON object state document. */
export type StateDoc = Record<string, unknown>;

/** One versioned side of the state (desired or reported). */
export interface Versioned {
  /** The document. */
  state: StateDoc;
  /** Increments on every accepted change; 0 before the first. */
  version: number;
}

function isPlainObject(value: unknown): value is StateDoc {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Maximum serialized size of a state document (mirrors the 256 KiB device payload limit). */
export const MAX_STATE_BYTES = 256 * 1024;

function checkState(state: unknown): StateDoc {
  if (!isPlainObject(state)) throw invalid('state must be a JSON object');
  if (Buffer.byteLength(JSON.stringify(state), 'utf8') > MAX_STATE_BYTES) {
    throw invalid(`state must be at most ${MAX_STATE_BYTES} bytes as JSON`);
  }
  return state;
}

/**
 * The keys of `desired` whose value differs from `reported`. Nested objects recurse (only their
 * differing keys are kept); arrays and scalars compare deeply as a whole.
 */
export function computeDelta(desired: StateDoc, reported: StateDoc): StateDoc {
  const delta: StateDoc = {};
  for (const [key, want] of Object.entries(desired)) {
    const have = reported[key];
    if (isPlainObject(want) && isPlainObject(have)) {
      const sub = computeDelta(want, have);
      if (Object.keys(sub).length > 0) delta[key] = sub;
    } else if (!jsonEqual(want, have)) {
      delta[key] = want;
    }
  }
  return delta;
}

/** A PUT of the desired state: replaces it whole, next version; checks `expectedVersion`. */
export function nextDesired(
  current: Versioned,
  state: unknown,
  expectedVersion?: number,
): Versioned {
  if (expectedVersion !== undefined && expectedVersion !== current.version) {
    throw conflict(
      'version_conflict',
      `desired state is at version ${current.version}, not ${expectedVersion}`,
    );
  }
  return { state: checkState(state), version: current.version + 1 };
}

/** The outcome of merging a device report. */
export interface ReportedMerge {
  /** False when the report changed nothing (no write, no event). */
  changed: boolean;
  /** The reported side after the merge. */
  next: Versioned;
}

/** Merges a device report into the reported state (JSON merge patch: `null` deletes). */
export function mergeReported(current: Versioned, patch: unknown): ReportedMerge {
  const merged = checkState(mergePatch.apply(jsonClone(current.state), checkState(patch)));
  if (jsonEqual(merged, current.state)) return { changed: false, next: current };
  return { changed: true, next: { state: merged, version: current.version + 1 } };
}
