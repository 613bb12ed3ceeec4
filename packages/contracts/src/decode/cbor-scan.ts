// One iterative pass over the CBOR bytes, before cbor-x builds anything: well-formedness,
// nesting depth (cbor-x recurses, so a hostile depth would otherwise overflow the stack) and
// UTF-8 validity of text strings (cbor-x decodes invalid UTF-8 leniently into U+FFFD, which
// would make CBOR accept what JSON refuses). No library exposes this check on its own.
import { isUtf8 } from 'node:buffer';

/** A problem found by `scanCbor`. */
export interface CborScanIssue {
  /** Reject reason. */
  reason: 'bad_cbor' | 'too_deep' | 'invalid_utf8';
  /** Human detail. */
  detail: string;
}

const INDEFINITE = -1;

function validUtf8(buf: Uint8Array, start: number, end: number): boolean {
  // Short ASCII strings (metric names, most values) skip the native call.
  for (let i = start; i < end; i++) {
    if (buf[i]! >= 0x80) return isUtf8(buf.subarray(start, end));
  }
  return true;
}

/** Checks `buf` holds exactly one well-formed CBOR item no deeper than `maxDepth`. */
export function scanCbor(buf: Uint8Array, maxDepth: number): CborScanIssue | null {
  const len = buf.length;
  // Items still expected in each open array/map (INDEFINITE until its break byte).
  const open: number[] = [];
  let pos = 0;
  const bad = (detail: string): CborScanIssue => ({ reason: 'bad_cbor', detail });

  // Marks one complete item; returns true when the top-level item is complete.
  const complete = (): boolean => {
    while (open.length > 0) {
      const top = open.length - 1;
      if (open[top] === INDEFINITE) return false;
      open[top]! -= 1;
      if (open[top]! > 0) return false;
      open.pop(); // the container is complete: it is one item of its parent
    }
    return true;
  };

  const readArg = (ai: number): number | null => {
    if (ai < 24) return ai;
    const size = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : 8;
    if (pos + size > len) return null;
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + buf[pos + i]!; // may round above 2^53: only
    pos += size; // ever compared with the bytes left, so rounding cannot make it fit
    return v;
  };

  for (;;) {
    if (pos >= len) return bad('truncated CBOR');
    const ib = buf[pos++]!;
    const major = ib >> 5;
    const ai = ib & 0x1f;
    if (ib === 0xff) {
      if (open[open.length - 1] !== INDEFINITE) return bad('unexpected break');
      open.pop();
      if (complete()) break;
      continue;
    }
    if (ai >= 28 && ai <= 30) return bad(`reserved additional information ${ai}`);
    if (ai === 31 && (major < 2 || major > 5)) return bad('indefinite length on a scalar');
    const arg = ai === 31 ? INDEFINITE : readArg(ai);
    if (arg === null) return bad('truncated CBOR');

    if (major === 6) continue; // a tag: the next item is its content
    if (major === 2 || major === 3) {
      if (arg === INDEFINITE) {
        // Chunks of the same major type with definite lengths, then a break.
        for (;;) {
          if (pos >= len) return bad('truncated CBOR');
          const cb = buf[pos++]!;
          if (cb === 0xff) break;
          if (cb >> 5 !== major || (cb & 0x1f) >= 28) return bad('bad chunk in indefinite string');
          const clen = readArg(cb & 0x1f);
          if (clen === null || clen > len - pos) return bad('truncated CBOR');
          if (major === 3 && !validUtf8(buf, pos, pos + clen)) {
            return { reason: 'invalid_utf8', detail: 'CBOR text string is not valid UTF-8' };
          }
          pos += clen;
        }
      } else {
        if (arg > len - pos) return bad('truncated CBOR');
        if (major === 3 && !validUtf8(buf, pos, pos + arg)) {
          return { reason: 'invalid_utf8', detail: 'CBOR text string is not valid UTF-8' };
        }
        pos += arg;
      }
      if (complete()) break;
      continue;
    }
    if (major === 4 || major === 5) {
      if (open.length + 1 > maxDepth) {
        return { reason: 'too_deep', detail: `nesting deeper than ${maxDepth}` };
      }
      const items = arg === INDEFINITE ? INDEFINITE : major === 5 ? arg * 2 : arg;
      if (items === 0) {
        if (complete()) break;
        continue;
      }
      // Every item takes at least one byte: a larger count cannot be honest.
      if (items !== INDEFINITE && items > len - pos) return bad('truncated CBOR');
      open.push(items);
      continue;
    }
    // Major 0, 1 (integers) and 7 (simple values, floats): the argument was the whole item.
    if (complete()) break;
  }
  if (pos !== len) return bad(`${len - pos} bytes after the CBOR item`);
  return null;
}
