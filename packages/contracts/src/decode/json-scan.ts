// One pass over the raw JSON bytes, before JSON.parse: nesting depth without recursion, and
// whether any number could overflow to Infinity (only then is a walk of the parsed value needed).
// Works on bytes because every structural character is ASCII and UTF-8 continuation bytes
// are all >= 0x80, so they can never be mistaken for one.

/** Result of `scanJson`. */
export interface JsonScan {
  /** Nesting depth exceeded the limit. */
  tooDeep: boolean;
  /** A number literal has an exponent or > 300 digits, so it may parse to ±Infinity. */
  mayOverflow: boolean;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const DOT = 0x2e;

/** Scans `buf` from `start`; stops early once the depth exceeds `maxDepth`. */
export function scanJson(buf: Uint8Array, start: number, maxDepth: number): JsonScan {
  let depth = 0;
  let digits = 0;
  let mayOverflow = false;
  let prev = 0;
  const len = buf.length;
  for (let i = start; i < len; i++) {
    const b = buf[i]!;
    if (b === QUOTE) {
      // Skip the string body; escapes consume the next byte.
      for (i++; i < len; i++) {
        const c = buf[i]!;
        if (c === BACKSLASH) i++;
        else if (c === QUOTE) break;
      }
      digits = 0;
      prev = QUOTE;
      continue;
    }
    if (b === 0x7b || b === 0x5b) {
      if (++depth > maxDepth) return { tooDeep: true, mayOverflow };
    } else if (b === 0x7d || b === 0x5d) {
      depth--;
    } else if (b >= 0x30 && b <= 0x39) {
      if (++digits > 300) mayOverflow = true;
      prev = b;
      continue;
    } else if ((b === 0x65 || b === 0x45) && ((prev >= 0x30 && prev <= 0x39) || prev === DOT)) {
      mayOverflow = true;
    }
    digits = 0;
    prev = b;
  }
  return { tooDeep: false, mayOverflow };
}

/** JSON path of the first non-finite number in `value`, or `null`. Iterative (no recursion). */
export function findNonFinite(value: unknown): string | null {
  const stack: { v: unknown; path: string }[] = [{ v: value, path: '' }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return path === '' ? '/' : path;
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push({ v: v[i], path: `${path}/${i}` });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v))
        stack.push({ v: child, path: `${path}/${pointerToken(k)}` });
    }
  }
  return null;
}

/** Escapes one JSON-pointer token (RFC 6901). */
export function pointerToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
