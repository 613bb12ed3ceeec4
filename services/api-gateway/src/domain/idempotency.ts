// Idempotency-Key rules: which requests take a key, what a valid key is, how a request is
// fingerprinted and what a repeat gets. Storage lives in adapters/redis; this is the logic.
import { createHash } from 'node:crypto';
import stableStringify from 'safe-stable-stringify';

/** Methods whose requests may carry an Idempotency-Key (the mutations). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** A key: 1-255 printable ASCII characters, no spaces (what clients put in a header anyway). */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
/** How long a first answer is kept and replayed. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
/** How long the in-flight lock lives, so a gateway that dies mid-request frees the key. */
export const IN_FLIGHT_TTL_SECONDS = 60;

/** The answer kept for replay. */
export interface StoredResponse {
  /** HTTP status of the first answer. */
  status: number;
  /** Body of the first answer, exactly as sent. */
  body: string;
  /** Content type of the first answer. */
  contentType: string;
}

/** What is stored under a key: a lock while the first request runs, then its answer. */
export type IdempotencyRecord =
  | { state: 'in_progress'; fingerprint: string }
  | { state: 'completed'; fingerprint: string; response: StoredResponse };

/** What a request that finds its key already taken gets. */
export type RepeatDecision =
  { kind: 'replay'; response: StoredResponse } | { kind: 'in_progress' } | { kind: 'key_reused' };

/** The outcome of reading the header. */
export type KeyCheck = { kind: 'absent' } | { kind: 'invalid' } | { kind: 'valid'; key: string };

/** Whether requests with this method take part in idempotency. */
export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase());
}

/** Reads the Idempotency-Key header; a repeated header counts as invalid (ambiguous). */
export function checkIdempotencyKey(header: string | string[] | undefined): KeyCheck {
  if (header === undefined) return { kind: 'absent' };
  if (Array.isArray(header) || !IDEMPOTENCY_KEY_PATTERN.test(header)) return { kind: 'invalid' };
  return { kind: 'valid', key: header };
}

/**
 * Fingerprint of a request: method, path (with query) and a hash of the body in canonical
 * JSON, so the same document with its keys in another order is the same request.
 */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  const bodyHash = sha256(String(stableStringify(body ?? null)));
  return sha256(`${method.toUpperCase()}\n${path}\n${bodyHash}`);
}

/** What a request whose key is already in the store gets. */
export function decideRepeat(existing: IdempotencyRecord, fingerprint: string): RepeatDecision {
  if (existing.fingerprint !== fingerprint) return { kind: 'key_reused' };
  if (existing.state === 'in_progress') return { kind: 'in_progress' };
  return { kind: 'replay', response: existing.response };
}

/**
 * Whether an answer is kept for replay. Server-side failures (5xx) are not: the request may
 * not have happened, and the client must be able to retry it with the same key.
 */
export function shouldStore(status: number): boolean {
  return status < 500;
}

/** Serializes a record for the store. */
export function encodeRecord(record: IdempotencyRecord): string {
  return JSON.stringify(record);
}

/** Parses a stored record; anything unrecognizable is `null` (the caller treats it as absent). */
export function decodeRecord(raw: string): IdempotencyRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    // A corrupt entry must not wedge the key forever: report it as absent.
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const rec = value as Record<string, unknown>;
  if (typeof rec.fingerprint !== 'string') return null;
  if (rec.state === 'in_progress') return { state: 'in_progress', fingerprint: rec.fingerprint };
  if (rec.state !== 'completed' || !isStoredResponse(rec.response)) return null;
  return { state: 'completed', fingerprint: rec.fingerprint, response: rec.response };
}

function isStoredResponse(value: unknown): value is StoredResponse {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.status === 'number' && typeof r.body === 'string' && typeof r.contentType === 'string'
  );
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
