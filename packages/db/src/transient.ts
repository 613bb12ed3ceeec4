// SQLSTATEs after which the same statement may succeed on retry: the server is going away or
// starting (57P01-57P03), too many connections (53300), serialization failure (40001),
// deadlock (40P01); every class 08 code is a connection exception.
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01']);
const TRANSIENT_SYSTEM_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
// pg reports a dropped socket or a pool wait timeout without a code.
const TRANSIENT_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /client has encountered a connection error/i,
  /connection (is )?closed/i,
];

/** Whether a database error is worth retrying (connection lost, server busy, serialization). */
export function isTransientDbError(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 3) return false;
  const e = err as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string') {
    if (TRANSIENT_SQLSTATES.has(e.code) || TRANSIENT_SYSTEM_CODES.has(e.code)) return true;
    if (/^08[0-9A-Z]{3}$/.test(e.code)) return true;
  }
  if (
    typeof e.message === 'string' &&
    TRANSIENT_MESSAGES.some((re) => re.test(e.message as string))
  )
    return true;
  // Dual-stack connects fail with an AggregateError; wrappers keep the original as cause.
  if (Array.isArray(e.errors) && e.errors.some((x) => isTransientDbError(x, depth + 1)))
    return true;
  return isTransientDbError(e.cause, depth + 1);
}
