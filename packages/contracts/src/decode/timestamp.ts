// RFC 3339 date-time (with the lower-case and space variants RFC 3339 §5.6 permits) or integer
// epoch milliseconds. Hand-written because Date.parse accepts far more than RFC 3339 and is
// implementation-defined outside the ISO subset; this is strict and allocation-light.
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** Parses an RFC 3339 string to epoch ms (fraction truncated to ms); `null` if malformed. */
export function parseRfc3339(s: string): number | null {
  const m = RFC3339.exec(s);
  if (m === null) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (month < 1 || month > 12 || day < 1) return null;
  if (day > DAYS_IN_MONTH[month - 1]! || (month === 2 && day === 29 && !isLeapYear(year))) {
    return null;
  }
  // 60 is a leap second; it lands on the next second, which is as close as epoch ms gets.
  if (hour > 23 || minute > 59 || second > 60) return null;
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  let offsetMin = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  // Date.UTC maps years 0-99 to 1900-1999; RFC 3339 means them literally.
  const fixed = year < 100 ? new Date(utc).setUTCFullYear(year) : utc;
  return fixed - offsetMin * 60_000;
}

/** A device `ts` (RFC 3339 string or integer epoch ms) to epoch ms; `null` if malformed. */
export function parseTimestamp(ts: unknown): number | null {
  if (typeof ts === 'number') return Number.isSafeInteger(ts) ? ts : null;
  if (typeof ts === 'string') return parseRfc3339(ts);
  return null;
}

/** Epoch ms to the RFC 3339 form the platform writes (`2025-01-02T03:04:05.678Z`). */
export function toRfc3339(ms: number): string {
  return new Date(ms).toISOString();
}
