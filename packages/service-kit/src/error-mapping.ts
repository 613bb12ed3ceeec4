import {
  ConflictError,
  DomainError,
  ForbiddenError,
  GoneError,
  InternalError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  TransientError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from './errors';

/** The REST error body (API.md). */
export interface HttpErrorBody {
  /** Stable snake_case code. */
  error_code: string;
  /** Human-readable explanation without internals. */
  detail: string;
  /** Correlation id of the request, echoed for support. */
  correlation_id: string;
}

/** A DomainError as it travels over RPC. */
export interface SerializedError {
  /** Stable snake_case code. */
  error_code: string;
  /** HTTP status of the error. */
  status: number;
  /** Human-readable explanation. */
  detail: string;
  /** Optional structured data. */
  details?: Record<string, unknown>;
}

// Errors from HTTP frameworks (Fastify: body too large, bad JSON, schema validation) carry a
// 4xx statusCode; they are the client's fault and safe to describe.
const CLIENT_CODES: Record<number, string> = {
  400: 'bad_request',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

/** Maps any error to an HTTP status and body; unknown errors become a detail-free 500. */
export function toHttpError(
  err: unknown,
  correlationId: string,
): { status: number; body: HttpErrorBody } {
  const s = serializeError(err);
  return {
    status: s.status,
    body: { error_code: s.error_code, detail: s.detail, correlation_id: correlationId },
  };
}

/** A DomainError (or framework 4xx) as plain JSON; anything else becomes `internal_error`. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof DomainError) {
    return {
      error_code: err.code,
      status: err.status,
      detail: err.detail,
      ...(err.details ? { details: err.details } : {}),
    };
  }
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    statusCode?: unknown;
    validation?: unknown;
    message?: unknown;
  };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const code = e.validation ? 'validation_failed' : (CLIENT_CODES[e.statusCode] ?? 'bad_request');
    const detail = typeof e.message === 'string' ? e.message : 'bad request';
    return { error_code: code, status: e.statusCode, detail };
  }
  return { error_code: 'internal_error', status: 500, detail: 'internal error' };
}

type Ctor = new (code: string, detail: string, details?: Record<string, unknown>) => DomainError;

const BY_STATUS: Record<number, Ctor> = {
  400: ValidationError,
  401: UnauthorizedError,
  403: ForbiddenError,
  404: NotFoundError,
  409: ConflictError,
  410: GoneError,
  413: PayloadTooLargeError,
  429: RateLimitedError,
  500: InternalError,
  503: UnavailableError,
};

/** Rebuilds the DomainError subclass for a serialized error (by status), keeping its code. */
export function deserializeError(obj: unknown): DomainError {
  const o = (typeof obj === 'object' && obj !== null ? obj : {}) as Partial<SerializedError>;
  const status = typeof o.status === 'number' ? o.status : 500;
  const code = typeof o.error_code === 'string' ? o.error_code : 'internal_error';
  const detail = typeof o.detail === 'string' ? o.detail : 'internal error';
  const details = typeof o.details === 'object' && o.details !== null ? o.details : undefined;
  // Statuses without a class of their own keep their number on the nearest kind.
  const ErrorClass: Ctor =
    BY_STATUS[status] ??
    (status < 500
      ? ValidationError
      : status === 502 || status === 504
        ? TransientError
        : InternalError);
  const err = new ErrorClass(code, detail, details);
  if (err.status !== status) Object.defineProperty(err, 'status', { value: status });
  return err;
}
