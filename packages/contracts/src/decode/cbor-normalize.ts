// cbor-x decodes to Maps, Sets, Dates, Buffers, typed arrays, BigInts and Tag objects. The rest
// of the platform sees JSON only, so this turns a decoded value into the exact shape JSON.parse
// would give for the equivalent JSON text: iteratively (a device controls the nesting), with a
// depth limit (also ends cycles made with the value-sharing tags 28/29) and a node budget (a
// DAG of shared references could otherwise expand exponentially).
import { Tag } from 'cbor-x';
import { pointerToken } from './json-scan';

/** Outcome of `normalizeCbor`. */
export type NormalizeResult =
  | { ok: true; value: unknown }
  | { ok: false; reason: 'too_deep' | 'schema' | 'bad_cbor'; detail: string };

interface Frame {
  /** The decoded value to convert. */
  src: unknown;
  /** Container receiving the converted value. */
  dst: Record<string, unknown> | unknown[];
  /** Key or index in `dst`. */
  key: string | number;
  /** Depth of the container `src` would become. */
  depth: number;
  /** Frame of the parent container, for building the error path lazily. */
  parent: Frame | null;
}

function pathOf(frame: Frame | null): string {
  const tokens: string[] = [];
  for (let f = frame; f !== null && f.parent !== null; f = f.parent) {
    tokens.push(pointerToken(String(f.key)));
  }
  return tokens.length === 0 ? '/' : `/${tokens.reverse().join('/')}`;
}

function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  // `obj[key] = v` with key "__proto__" would set the prototype; JSON.parse makes an own property.
  if (key === '__proto__') {
    Object.defineProperty(obj, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    obj[key] = value;
  }
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

const fail = (reason: 'too_deep' | 'schema' | 'bad_cbor', detail: string): NormalizeResult => ({
  ok: false,
  reason,
  detail,
});

/** Converts a cbor-x value to plain JSON data; `budget` caps the number of nodes visited. */
export function normalizeCbor(input: unknown, maxDepth: number, budget: number): NormalizeResult {
  const root: unknown[] = [undefined];
  const stack: Frame[] = [{ src: input, dst: root, key: 0, depth: 1, parent: null }];
  let nodes = 0;
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const { src, dst, key, depth } = frame;
    if (++nodes > budget) {
      return fail('bad_cbor', 'more values than bytes: shared references are not supported');
    }
    let out: unknown = src;
    let children: Iterable<[string | number, unknown]> | null = null;
    let container: Record<string, unknown> | unknown[] | null = null;

    if (typeof src === 'string' || typeof src === 'boolean' || src === null) {
      // already JSON
    } else if (typeof src === 'number') {
      if (!Number.isFinite(src)) {
        return fail('schema', `${pathOf(frame)}: non-finite number (${src}) is not allowed`);
      }
    } else if (typeof src === 'bigint') {
      if (src > BigInt(Number.MAX_SAFE_INTEGER) || src < BigInt(Number.MIN_SAFE_INTEGER)) {
        return fail('schema', `${pathOf(frame)}: integer outside the safe range (±2^53-1)`);
      }
      out = Number(src);
    } else if (src === undefined) {
      // JSON.stringify semantics: dropped from objects, null in arrays.
      if (Array.isArray(dst)) dst[key as number] = null;
      else delete dst[key as string];
      continue;
    } else if (Array.isArray(src)) {
      container = new Array<unknown>(src.length);
      children = src.entries();
    } else if (src instanceof Map) {
      const obj: Record<string, unknown> = {};
      for (const k of src.keys()) {
        if (typeof k !== 'string') {
          return fail('schema', `${pathOf(frame)}: map key of type ${typeof k}; only text keys`);
        }
        setKey(obj, k, undefined); // fixes key order now; values are filled in below
      }
      container = obj;
      children = src.entries();
    } else if (src instanceof Uint8Array) {
      out = base64(src);
    } else if (ArrayBuffer.isView(src)) {
      const arr = Array.from(src as unknown as ArrayLike<unknown>);
      container = new Array<unknown>(arr.length);
      children = arr.entries();
    } else if (src instanceof Set) {
      const arr = [...src];
      container = new Array<unknown>(arr.length);
      children = arr.entries();
    } else if (src instanceof Date) {
      const t = src.getTime();
      if (Number.isNaN(t)) return fail('schema', `${pathOf(frame)}: invalid date`);
      out = src.toISOString();
    } else if (src instanceof Tag) {
      // Unknown tag: keep the tagged content, drop the tag (JSON cannot carry it).
      stack.push({ ...frame, src: src.value });
      continue;
    } else if (typeof src === 'object' && isPlainObject(src)) {
      const obj: Record<string, unknown> = {};
      for (const k of Object.keys(src)) setKey(obj, k, undefined);
      container = obj;
      children = Object.entries(src);
    } else {
      const what = typeof src === 'object' ? (src.constructor?.name ?? 'object') : typeof src;
      return fail('schema', `${pathOf(frame)}: unsupported CBOR value (${what})`);
    }

    if (container !== null) {
      if (depth > maxDepth) return fail('too_deep', `nesting deeper than ${maxDepth}`);
      out = container;
    }
    if (Array.isArray(dst)) dst[key as number] = out;
    else setKey(dst, key as string, out);
    if (container !== null && children !== null) {
      const pending: Frame[] = [];
      for (const [k, v] of children) {
        if (isJsonScalar(v)) {
          // Fast path: most values are scalars and need no frame of their own.
          nodes++;
          if (Array.isArray(container)) container[k as number] = v;
          else setKey(container, k as string, v);
        } else {
          pending.push({ src: v, dst: container, key: k, depth: depth + 1, parent: frame });
        }
      }
      if (nodes > budget) {
        return fail('bad_cbor', 'more values than bytes: shared references are not supported');
      }
      // Reverse so the first child is converted first (stable first-error paths).
      for (let i = pending.length - 1; i >= 0; i--) stack.push(pending[i]!);
    }
  }
  return { ok: true, value: root[0] };
}

function isPlainObject(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function isJsonScalar(v: unknown): boolean {
  return (
    typeof v === 'string' ||
    typeof v === 'boolean' ||
    v === null ||
    (typeof v === 'number' && Number.isFinite(v))
  );
}
