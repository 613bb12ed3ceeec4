import { InvalidArgumentError } from 'commander';

/** An attribute value as the API stores it. */
export type AttrValue = string | number | boolean;

/**
 * Parses `key=value`. The value is JSON when it is a JSON number, boolean or string
 * (`n=3`, `on=true`, `serial='"007"'`), otherwise the raw text, so `room=lab 2` needs no quotes.
 */
export function parseAttr(input: string): [string, AttrValue] {
  const eq = input.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${input}"`);
  const key = input.slice(0, eq);
  const raw = input.slice(eq + 1);
  return [key, parseScalar(raw)];
}

function parseScalar(raw: string): AttrValue {
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value === 'string' || typeof value === 'boolean') return value;
    if (typeof value === 'number' && Number.isFinite(value)) return value;
  } catch {
    // Not JSON: plain text is the common case (`room=lab`).
    return raw;
  }
  return raw;
}

/** Collects repeated `--attr k=v` into one object (commander's reducer signature). */
export function collectAttr(
  input: string,
  acc: Record<string, AttrValue> | undefined,
): Record<string, AttrValue> {
  const [key, value] = parseAttr(input);
  return { ...acc, [key]: value };
}

/** Collects repeated or comma-separated `--tag a --tag b,c` into a list. */
export function collectTags(input: string, acc: string[] | undefined): string[] {
  const tags = input
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  return [...(acc ?? []), ...tags];
}

/** Parses `--limit`: an integer from 1 to 500, as the API accepts. */
export function parseLimit(input: string): number {
  const n = Number(input);
  if (!Number.isInteger(n) || n < 1 || n > 500) {
    throw new InvalidArgumentError('expected an integer from 1 to 500');
  }
  return n;
}

const TTL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Parses a token lifetime: seconds (`3600`) or a number with a unit (`90s`, `30m`, `12h`, `7d`). */
export function parseTtl(input: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(input.trim());
  const seconds = match ? Number(match[1]) * (TTL_UNITS[match[2] || 's'] ?? 1) : NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1) {
    throw new InvalidArgumentError('expected seconds or a duration like 30m, 12h, 7d');
  }
  return seconds;
}
