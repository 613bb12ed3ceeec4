// Opaque keyset cursors: base64url JSON of the last row's sort key, versioned so the format can
// change without misreading old cursors.
import { RPC_LIST_LIMIT } from '@drover/contracts';
import { invalid } from './errors';

/** Encodes the sort key of the last row of a page. */
export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify({ v: 1, k: key }), 'utf8').toString('base64url');
}

/** Decodes a cursor made by `encodeCursor` with `arity` key parts; 400 for anything else. */
export function decodeCursor(cursor: string, arity: number): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (err) {
    throw invalid(`invalid cursor (${(err as Error).name})`);
  }
  const key = (parsed as { v?: unknown; k?: unknown } | null)?.k;
  const ok =
    (parsed as { v?: unknown } | null)?.v === 1 &&
    Array.isArray(key) &&
    key.length === arity &&
    key.every((part) => typeof part === 'string');
  if (!ok) throw invalid('invalid cursor');
  return key as string[];
}

/** Page size: default when absent, 400 outside 1..500. */
export function pageLimit(limit: number | undefined): number {
  const value = limit ?? RPC_LIST_LIMIT.default;
  if (!Number.isInteger(value) || value < RPC_LIST_LIMIT.min || value > RPC_LIST_LIMIT.max) {
    throw invalid(`limit must be an integer from ${RPC_LIST_LIMIT.min} to ${RPC_LIST_LIMIT.max}`);
  }
  return value;
}

/** Escapes `%`, `_` and `\` so a user's substring is matched literally by LIKE. */
export function likeContains(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
