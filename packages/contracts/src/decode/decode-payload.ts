// Bytes from a device → a plain JSON object, or a reason. Never throws: every failure mode a
// device can trigger (size, encoding, UTF-8, nesting, syntax, non-JSON values) has a reason.
import { Decoder } from 'cbor-x';
import { normalizeCbor } from './cbor-normalize';
import { scanCbor } from './cbor-scan';
import { findNonFinite, scanJson } from './json-scan';
import { type Rejection, reject } from './reject-reason';

/** Default payload size limit: 256 KiB (DEVICE-PROTOCOL.md). */
export const DEFAULT_MAX_BYTES = 256 * 1024;
/** Default nesting limit (containers, the top-level object counts as 1). */
export const DEFAULT_MAX_DEPTH = 32;

/** Options for `decodePayload`. */
export interface DecodeOptions {
  /** MQTT 5 content type, if the client set one (`application/json`, `application/cbor`). */
  contentType?: string;
  /** Size limit in bytes (default 256 KiB). */
  maxBytes?: number;
  /** Nesting limit (default 32). */
  maxDepth?: number;
}

/** The wire encoding a payload was decoded from. */
export type PayloadEncoding = 'json' | 'cbor';

/** A successfully decoded payload: always a plain JSON object. */
export interface Decoded {
  /** Always true. */
  ok: true;
  /** The payload as JSON.parse would give it (plain objects, arrays, finite numbers, …). */
  value: Record<string, unknown>;
  /** Which encoding it came in. */
  encoding: PayloadEncoding;
}

/** Result of `decodePayload`. */
export type DecodeResult = Decoded | Rejection;

// mapsAsObjects: false so non-text map keys stay visible (cbor-x would stringify them) and are
// refused; normalizeCbor turns the Maps into plain objects.
const cbor = new Decoder({ mapsAsObjects: false, useRecords: false });
const utf8 = new TextDecoder('utf-8', { fatal: true });

function isWhitespace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

function mediaType(contentType: string): string {
  return contentType.split(';', 1)[0]!.trim().toLowerCase();
}

function sniff(buf: Uint8Array): { encoding: PayloadEncoding; start: number } | null {
  let i = 0;
  // A UTF-8 byte order mark is tolerated before JSON (RFC 8259 lets parsers ignore it).
  if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) i = 3;
  while (i < buf.length && isWhitespace(buf[i]!)) i++;
  if (buf[i] === 0x7b) return { encoding: 'json', start: i };
  const first = buf[0]!;
  if (first >= 0xa0 && first <= 0xbf) return { encoding: 'cbor', start: 0 };
  // The self-describe CBOR tag 55799 (d9 d9 f7) followed by a map.
  if (first === 0xd9 && buf[1] === 0xd9 && buf[2] === 0xf7 && (buf[3]! & 0xe0) === 0xa0) {
    return { encoding: 'cbor', start: 0 };
  }
  return null;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function decodeJson(buf: Uint8Array, start: number, maxDepth: number): DecodeResult {
  let text: string;
  try {
    text = utf8.decode(buf);
  } catch (err) {
    return reject('invalid_utf8', `payload is not valid UTF-8 (${errorMessage(err)})`);
  }
  const scan = scanJson(buf, start, maxDepth);
  if (scan.tooDeep) return reject('too_deep', `nesting deeper than ${maxDepth}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return reject('bad_json', errorMessage(err));
  }
  if (!isPlainRecord(value)) return reject('schema', '/: payload must be a JSON object');
  if (scan.mayOverflow) {
    const path = findNonFinite(value);
    if (path !== null) return reject('schema', `${path}: number out of range (not finite)`);
  }
  return { ok: true, value, encoding: 'json' };
}

function decodeCbor(buf: Uint8Array, maxDepth: number): DecodeResult {
  const issue = scanCbor(buf, maxDepth);
  if (issue !== null) return reject(issue.reason, issue.detail);
  let raw: unknown;
  try {
    raw = cbor.decode(buf);
  } catch (err) {
    // Defence in depth: scanCbor bounds the nesting, but cbor-x recurses, so keep this mapping.
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      return reject('too_deep', `nesting deeper than ${maxDepth}`);
    }
    return reject('bad_cbor', errorMessage(err));
  }
  // Each CBOR value takes at least one byte, so more nodes than bytes means shared references.
  const normalized = normalizeCbor(raw, maxDepth, buf.byteLength + 1);
  if (!normalized.ok) return reject(normalized.reason, normalized.detail);
  if (!isPlainRecord(normalized.value)) return reject('schema', '/: payload must be a CBOR map');
  return { ok: true, value: normalized.value, encoding: 'cbor' };
}

/** Decodes a device payload (JSON or CBOR) to a plain object. Never throws. */
export function decodePayload(buf: Uint8Array, opts: DecodeOptions = {}): DecodeResult {
  try {
    const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
    if (!(buf instanceof Uint8Array)) return reject('bad_encoding', 'payload must be bytes');
    if (buf.byteLength > maxBytes) {
      return reject('too_large', `payload of ${buf.byteLength} bytes exceeds ${maxBytes}`);
    }
    if (buf.byteLength === 0) return reject('bad_encoding', 'empty payload');
    if (opts.contentType !== undefined && opts.contentType !== '') {
      const type = mediaType(opts.contentType);
      if (type === 'application/json' || type.endsWith('+json')) {
        return decodeJson(buf, 0, maxDepth);
      }
      if (type === 'application/cbor' || type.endsWith('+cbor')) return decodeCbor(buf, maxDepth);
      return reject(
        'bad_encoding',
        `unsupported content type ${JSON.stringify(type.slice(0, 64))}`,
      );
    }
    const sniffed = sniff(buf);
    if (sniffed === null) {
      return reject('bad_encoding', 'neither a JSON object nor a CBOR map (first byte)');
    }
    return sniffed.encoding === 'json'
      ? decodeJson(buf, sniffed.start, maxDepth)
      : decodeCbor(buf, maxDepth);
  } catch (err) {
    // Defensive: nothing above should throw, but a device must never crash the ingress.
    return reject('bad_encoding', `undecodable payload (${errorMessage(err)})`);
  }
}
