/** Options shared by every DomainError constructor. */
export interface DomainErrorOptions {
  /** The underlying error, kept for logs, never sent to clients. */
  cause?: unknown;
}

const CODE = /^[a-z][a-z0-9_]*$/;

/**
 * A failure the domain expects and a client may see: a stable snake_case `code`, the HTTP
 * `status` it maps to and a human `detail`. Subclasses fix the status and a default code.
 * Constructors take `(code, detail?, details?, options?)`; a single argument that is not a
 * snake_case code is taken as the detail (`new ValidationError('tags must be unique')`).
 */
export abstract class DomainError extends Error {
  /** HTTP status this error maps to. */
  abstract readonly status: number;
  /** Stable machine-readable code, e.g. `device_not_found`. */
  readonly code: string;
  /** Human-readable explanation, safe to show to the client. */
  readonly detail: string;
  /** Optional structured data (e.g. the failing fields). */
  readonly details?: Record<string, unknown>;

  protected constructor(
    defaults: { code: string; detail: string },
    code?: string,
    detail?: string | DomainErrorOptions,
    details?: Record<string, unknown>,
    options?: DomainErrorOptions,
  ) {
    const opts = typeof detail === 'object' ? detail : options;
    let text = typeof detail === 'string' ? detail : undefined;
    let errorCode = code;
    if (code !== undefined && text === undefined && !CODE.test(code)) {
      text = code;
      errorCode = undefined;
    }
    super(text ?? defaults.detail, opts?.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.code = errorCode ?? defaults.code;
    this.detail = text ?? defaults.detail;
    if (details !== undefined) this.details = details;
  }
}

type Args = [
  code?: string,
  detail?: string | DomainErrorOptions,
  details?: Record<string, unknown>,
  options?: DomainErrorOptions,
];

/** 400: the request is malformed or breaks a rule. */
export class ValidationError extends DomainError {
  readonly status = 400;
  constructor(...args: Args) {
    super({ code: 'validation_failed', detail: 'validation failed' }, ...args);
  }
}

/** 401: no or bad credentials. */
export class UnauthorizedError extends DomainError {
  readonly status = 401;
  constructor(...args: Args) {
    super({ code: 'unauthorized', detail: 'authentication required' }, ...args);
  }
}

/** 403: authenticated but not allowed. */
export class ForbiddenError extends DomainError {
  readonly status = 403;
  constructor(...args: Args) {
    super({ code: 'forbidden', detail: 'not allowed' }, ...args);
  }
}

/** 404: no such resource (also another tenant's resource). */
export class NotFoundError extends DomainError {
  readonly status = 404;
  constructor(...args: Args) {
    super({ code: 'not_found', detail: 'not found' }, ...args);
  }
}

/** 409: the change conflicts with the current state. */
export class ConflictError extends DomainError {
  readonly status = 409;
  constructor(...args: Args) {
    super({ code: 'conflict', detail: 'conflict with current state' }, ...args);
  }
}

/** 410: the resource existed and is gone for good (e.g. decommissioned). */
export class GoneError extends DomainError {
  readonly status = 410;
  constructor(...args: Args) {
    super({ code: 'gone', detail: 'gone' }, ...args);
  }
}

/** 413: the payload exceeds a limit. */
export class PayloadTooLargeError extends DomainError {
  readonly status = 413;
  constructor(...args: Args) {
    super({ code: 'payload_too_large', detail: 'payload too large' }, ...args);
  }
}

/** 429: a rate limit was hit. */
export class RateLimitedError extends DomainError {
  readonly status = 429;
  constructor(...args: Args) {
    super({ code: 'rate_limited', detail: 'too many requests' }, ...args);
  }
}

/** 500: an unexpected failure; the detail never carries internals. */
export class InternalError extends DomainError {
  readonly status = 500;
  constructor(...args: Args) {
    super({ code: 'internal_error', detail: 'internal error' }, ...args);
  }
}

/** 503: a retryable failure (a dependency is down or busy); retry later. */
export class TransientError extends DomainError {
  readonly status: number = 503;
  /** Marks the error as retryable, also across copies of this package. */
  readonly transient = true;
  constructor(...args: Args) {
    super({ code: 'temporarily_unavailable', detail: 'temporarily unavailable' }, ...args);
  }
}

/** 503: a service or dependency is unavailable (transient). */
export class UnavailableError extends TransientError {
  constructor(...args: Args) {
    const [code, ...rest] = args;
    super(code ?? 'service_unavailable', ...rest);
  }
}

const TRANSIENT_SYSTEM_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** Whether retrying `err` later may succeed: TransientError (incl. 503s) or a network error. */
export function isTransient(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { transient?: unknown; code?: unknown };
  if (e.transient === true) return true;
  return typeof e.code === 'string' && TRANSIENT_SYSTEM_CODES.has(e.code);
}
