/** A namespace: empty in production, a short prefix in tests and side-by-side installs. */
export const NAMESPACE_PATTERN = /^[a-z][a-z0-9_]{0,30}$/;

/** Names things that live on shared servers (NATS, Redis) under one namespace. */
export interface Naming {
  /** The namespace, `''` in production. */
  readonly ns: string;
  /** Prefixes a NATS subject (or subject filter) with the namespace. */
  subject(s: string): string;
  /** A JetStream stream name: `EVENTS` or `T_AB12_EVENTS`. */
  stream(name: string): string;
  /** A Redis key `[ns:]drover:<parts joined by ':'>`. */
  redisKey(...parts: (string | number)[]): string;
}

/** Builds the naming for `ns` (`undefined` or `''` = production). Throws on a bad namespace. */
export function namespace(ns?: string): Naming {
  const value = ns ?? '';
  if (value !== '' && !NAMESPACE_PATTERN.test(value)) {
    throw new Error(
      `invalid namespace ${JSON.stringify(value)} (must match ${NAMESPACE_PATTERN.source})`,
    );
  }
  const subjectPrefix = value === '' ? '' : `${value}.`;
  const streamPrefix = value === '' ? '' : `${value.toUpperCase()}_`;
  const keyPrefix = value === '' ? 'drover' : `${value}:drover`;
  return {
    ns: value,
    subject: (s) => subjectPrefix + s,
    stream: (name) => streamPrefix + name,
    redisKey: (...parts) => {
      for (const part of parts) {
        if (part === '') throw new Error('redisKey: empty key part');
      }
      return parts.length === 0 ? keyPrefix : `${keyPrefix}:${parts.join(':')}`;
    },
  };
}

/** The JetStream streams of ARCHITECTURE.md (unprefixed names; use `naming.stream`). */
export const STREAM_NAMES = ['EVENTS', 'TELEMETRY', 'DEVICE', 'COMMANDS', 'DLQ'] as const;
/** One of `STREAM_NAMES`. */
export type StreamName = (typeof STREAM_NAMES)[number];
