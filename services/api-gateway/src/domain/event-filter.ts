// The SSE stream's `?types=` filter and `Last-Event-ID` resume point.

/** A CloudEvent type as the contracts name them: `drover.<aggregate>.<name>.v<version>`. */
export const EVENT_TYPE_PATTERN = /^drover\.[a-z0-9_]+\.[a-z0-9_]+\.v[0-9]{1,3}$/;
/** At most this many types in one filter (keeps the query string and the check small). */
export const MAX_EVENT_TYPES = 32;

/** The outcome of parsing `?types=`: `null` types means every event. */
export type TypesFilter =
  { ok: true; types: ReadonlySet<string> | null } | { ok: false; detail: string };

/** Parses `?types=a,b` (comma separated, blanks ignored); absent or empty means all. */
export function parseTypesFilter(raw: string | undefined): TypesFilter {
  if (raw === undefined) return { ok: true, types: null };
  const types = raw
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  if (types.length === 0) return { ok: true, types: null };
  if (types.length > MAX_EVENT_TYPES) {
    return { ok: false, detail: `at most ${MAX_EVENT_TYPES} types` };
  }
  const bad = types.find((t) => !EVENT_TYPE_PATTERN.test(t));
  if (bad !== undefined) {
    return { ok: false, detail: `unknown event type format ${JSON.stringify(bad)}` };
  }
  return { ok: true, types: new Set(types) };
}

/** Whether an event of `type` passes the filter. */
export function matchesTypes(types: ReadonlySet<string> | null, type: unknown): boolean {
  if (typeof type !== 'string') return false;
  return types === null || types.has(type);
}

/**
 * The stream sequence to resume after, from `Last-Event-ID` (the SSE ids are stream sequences).
 * Anything that is not a positive integer is ignored: the client then gets new events only.
 */
export function resumeAfter(lastEventId: string | null | undefined): number | undefined {
  if (lastEventId === null || lastEventId === undefined || !/^[0-9]{1,15}$/.test(lastEventId)) {
    return undefined;
  }
  const seq = Number(lastEventId);
  return seq > 0 ? seq : undefined;
}
