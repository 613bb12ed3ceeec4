// cbor-x decodes to Maps, Sets, Dates, Buffers, typed arrays, BigInts and Tag objects. The rest
// of the platform sees JSON only, so this turns a decoded value into the exact shape JSON.parse
// would give for the equivalent JSON text: iteratively (a device controls the nesting), with a
// depth limit (also ends cycles made with the value-sharing tags 28/29) and a node budget (a
// DAG of shared references could otherwise expand exponentially). Scalars, the bulk of any
// payload, are copied inline; only containers get a stack frame.
import { Tag } from 'cbor-x';
import { pointerToken } from './json-scan';

/** Outcome of `normalizeCbor`. */
export type NormalizeResult =
  | { ok: true; value: unknown }
  | { ok: false; reason: 'too_deep' | 'schema' | 'bad_cbor'; detail: string };

type Container = Record<string, unknown> | unknown[];

interface Frame {
  /** The decoded value to convert. */
  src: unknown;
  /** Container receiving the converted value. */
  dst: Container;
  /** Key or index in `dst`. */
  key: string | number;
  /** Depth `src` would have as a container (the top level is 1). */
  depth: number;
  /** Frame of the parent container, to build the error path lazily. */
  parent: Frame | null;
}

class NormalizeError extends Error {
  constructor(
    readonly reason: 'too_deep' | 'schema' | 'bad_cbor',
    readonly detail: string,
  ) {
    super(detail);
  }
}

function pathOf(frame: Frame | null, lastKey?: string | number): string {
  const tokens: string[] = lastKey === undefined ? [] : [pointerToken(String(lastKey))];
  for (let f = frame; f !== null && f.parent !== null; f = f.parent) {
    tokens.push(pointerToken(String(f.key)));
  }
  return tokens.length === 0 ? '/' : `/${tokens.reverse().join('/')}`;
}

function put(dst: Container, key: string | number, value: unknown): void {
  if (Array.isArray(dst)) {
    dst[key as number] = value;
  } else if (key === '__proto__') {
    // `obj[key] = v` would set the prototype; JSON.parse makes an own property, so do we.
    Object.defineProperty(dst, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    dst[key as string] = value;
  }
}

function isPlainObject(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Converts a cbor-x value to plain JSON data; `budget` caps the number of values visited. */
export function normalizeCbor(input: unknown, maxDepth: number, budget: number): NormalizeResult {
  const root: unknown[] = [null];
  const stack: Frame[] = [{ src: input, dst: root, key: 0, depth: 1, parent: null }];
  let nodes = 0;

  // Copies one child: scalars now, containers (and convertible objects) onto the stack.
  const child = (frame: Frame, dst: Container, key: string | number, v: unknown): void => {
    nodes++;
    if (typeof v === 'string' || typeof v === 'boolean' || v === null) {
      put(dst, key, v);
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) {
        throw new NormalizeError(
          'schema',
          `${pathOf(frame, key)}: non-finite number (${v}) is not allowed`,
        );
      }
      put(dst, key, v);
    } else if (v === undefined) {
      // JSON.stringify semantics: dropped from objects, null in arrays.
      if (Array.isArray(dst)) dst[key as number] = null;
      else delete dst[key as string];
    } else if (typeof v === 'object' || typeof v === 'bigint') {
      put(dst, key, null); // placeholder keeps the key order
      stack.push({ src: v, dst, key, depth: frame.depth + 1, parent: frame });
    } else {
      throw new NormalizeError('schema', `${pathOf(frame, key)}: unsupported value (${typeof v})`);
    }
  };

  try {
    while (stack.length > 0) {
      if (nodes > budget) {
        return {
          ok: false,
          reason: 'bad_cbor',
          detail: 'more values than bytes: shared references are not supported',
        };
      }
      const frame = stack.pop()!;
      const src = frame.src;
      let out: unknown;
      if (typeof src !== 'object' || src === null) {
        if (typeof src !== 'bigint') {
          // A scalar reached through a tag, or the whole payload: copy it like any child.
          child(frame.parent ?? frame, frame.dst, frame.key, src);
          continue;
        }
      }
      if (typeof src === 'bigint') {
        // Rounded to the nearest double, exactly as JSON.parse treats a large integer literal.
        out = Number(src);
        if (!Number.isFinite(out)) {
          throw new NormalizeError('schema', `${pathOf(frame)}: integer out of range (not finite)`);
        }
        put(frame.dst, frame.key, out);
        continue;
      }
      if (src instanceof Uint8Array) {
        put(
          frame.dst,
          frame.key,
          Buffer.from(src.buffer, src.byteOffset, src.byteLength).toString('base64'),
        );
        continue;
      }
      if (src instanceof Date) {
        if (Number.isNaN(src.getTime()))
          throw new NormalizeError('schema', `${pathOf(frame)}: invalid date`);
        put(frame.dst, frame.key, src.toISOString());
        continue;
      }
      if (src instanceof Tag) {
        // An unknown tag: keep the tagged content, drop the tag (JSON cannot carry it).
        nodes++;
        stack.push({ ...frame, src: src.value });
        continue;
      }
      if (frame.depth > maxDepth) {
        return { ok: false, reason: 'too_deep', detail: `nesting deeper than ${maxDepth}` };
      }
      if (src instanceof Map) {
        const obj: Record<string, unknown> = {};
        put(frame.dst, frame.key, obj);
        for (const [k, v] of src) {
          if (typeof k !== 'string') {
            throw new NormalizeError(
              'schema',
              `${pathOf(frame)}: map key of type ${typeof k}; only text keys`,
            );
          }
          child(frame, obj, k, v);
        }
      } else if (Array.isArray(src) || src instanceof Set || ArrayBuffer.isView(src)) {
        const items: ArrayLike<unknown> = Array.isArray(src)
          ? src
          : src instanceof Set
            ? [...src]
            : Array.from(src as unknown as ArrayLike<unknown>);
        const arr = new Array<unknown>(items.length);
        put(frame.dst, frame.key, arr);
        for (let i = 0; i < items.length; i++) child(frame, arr, i, items[i]);
      } else if (typeof src === 'object' && src !== null && isPlainObject(src)) {
        const obj: Record<string, unknown> = {};
        put(frame.dst, frame.key, obj);
        for (const k of Object.keys(src)) child(frame, obj, k, (src as Record<string, unknown>)[k]);
      } else {
        const what =
          typeof src === 'object' && src !== null
            ? (src.constructor?.name ?? 'object')
            : typeof src;
        throw new NormalizeError('schema', `${pathOf(frame)}: unsupported CBOR value (${what})`);
      }
    }
  } catch (err) {
    if (err instanceof NormalizeError) return { ok: false, reason: err.reason, detail: err.detail };
    throw err;
  }
  return { ok: true, value: root[0] };
}
