// List pagination rules shared by every list route (API.md fixes them: limit 1-500,
// default 50; the registry's RPC contract uses the same bounds).

/** Smallest page a client may ask for. */
export const MIN_LIMIT = 1;
/** Largest page a client may ask for. */
export const MAX_LIMIT = 500;
/** Page size when `limit` is not given. */
export const DEFAULT_LIMIT = 50;
/** Longest opaque cursor accepted (the registry's cursors are far shorter). */
export const MAX_CURSOR_LENGTH = 512;

/** The page size to ask the service for: the default when absent, else clamped into range. */
export function resolveLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_LIMIT;
  return Math.min(MAX_LIMIT, Math.max(MIN_LIMIT, Math.trunc(limit)));
}

/** The cursor to forward: empty strings mean "first page" rather than a bad cursor. */
export function resolveCursor(cursor: string | undefined): string | undefined {
  return cursor === undefined || cursor === '' ? undefined : cursor;
}
