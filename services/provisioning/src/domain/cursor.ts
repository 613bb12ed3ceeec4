// Opaque list cursors: base64url of the last item's sort key.
import { invalid } from './errors';

/** Encodes the last enrollment id of a page. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(JSON.stringify({ k: lastId })).toString('base64url');
}

/** Decodes a cursor; throws `validation_failed` when it was not made by {@link encodeCursor}. */
export function decodeCursor(cursor: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (err) {
    void err; // any garbage is the client's fault, reported below
    parsed = null;
  }
  const k = (parsed as { k?: unknown } | null)?.k;
  if (typeof k !== 'string') throw invalid('validation_failed', 'bad cursor');
  return k;
}
