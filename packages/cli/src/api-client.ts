import { ApiError, CliError, ConnectionError } from './errors';

/** A query string value; arrays repeat the key, undefined leaves it out. */
export type QueryValue = string | number | boolean | undefined | readonly string[];

/** One request to the REST API. */
export interface ApiRequest {
  /** HTTP method. */
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path below the base URL, e.g. `/api/v1/devices`. */
  path: string;
  /** Query parameters. */
  query?: Record<string, QueryValue>;
  /** JSON body. */
  body?: unknown;
  /** A multipart/form-data body instead of JSON (e.g. a firmware upload). */
  form?: FormData;
  /** This request's timeout, when it may take longer than the client's (uploads). */
  timeoutMs?: number;
  /** Extra headers, e.g. `Idempotency-Key`. */
  headers?: Record<string, string>;
}

/** The REST API as the commands see it. */
export interface ApiClient {
  /** The base URL requests go to. */
  readonly baseUrl: string;
  /** Sends a request and returns the parsed JSON answer; throws ApiError or ConnectionError. */
  request<T>(req: ApiRequest): Promise<T>;
}

export interface ApiClientOptions {
  /** The API base URL, e.g. http://127.0.0.1:8080. */
  baseUrl: string;
  /** Bearer token; requests go without Authorization when absent. */
  token?: string;
  /** Per-request timeout. */
  timeoutMs?: number;
}

export function buildUrl(baseUrl: string, path: string, query?: Record<string, QueryValue>): URL {
  // Relative resolution keeps a base path (an API behind a reverse proxy at /drover/).
  const url = new URL(path.replace(/^\/+/, ''), baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) url.searchParams.append(key, v);
    else url.searchParams.set(key, String(value));
  }
  return url;
}

export function createApiClient(opts: ApiClientOptions): ApiClient {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return {
    baseUrl: opts.baseUrl,
    async request<T>(req: ApiRequest): Promise<T> {
      const url = buildUrl(opts.baseUrl, req.path, req.query);
      const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (req.body !== undefined) headers['content-type'] = 'application/json';
      // fetch sets the multipart content type with its boundary itself.
      const body = req.form ?? (req.body === undefined ? undefined : JSON.stringify(req.body));
      const limitMs = req.timeoutMs ?? timeoutMs;
      let res: Response;
      try {
        res = await fetch(url, {
          method: req.method,
          headers,
          body,
          signal: AbortSignal.timeout(limitMs),
        });
      } catch (err) {
        throw toTransportError(err, opts.baseUrl, limitMs);
      }
      const text = await res.text();
      if (!res.ok) throw toApiError(res, text, Boolean(opts.token));
      return (text ? JSON.parse(text) : undefined) as T;
    },
  };
}

function toApiError(res: Response, text: string, hadToken: boolean): ApiError {
  const headerId = res.headers.get('x-correlation-id') ?? undefined;
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // A proxy or a crash page answered instead of the gateway: show the raw text below.
    body = {};
  }
  const code = typeof body.error_code === 'string' ? body.error_code : `http_${res.status}`;
  let detail = typeof body.detail === 'string' ? body.detail : text.slice(0, 200) || res.statusText;
  if (res.status === 401 && !hadToken) {
    detail += ' (no token: pass --token or set DROVER_TOKEN, see `npx drover token --help`)';
  }
  const correlationId = typeof body.correlation_id === 'string' ? body.correlation_id : headerId;
  return new ApiError(res.status, code, detail, correlationId);
}

/** Finds the system error code undici hides in `cause` (sometimes an AggregateError). */
function systemCode(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let depth = 0; depth < 5 && cur && typeof cur === 'object'; depth++) {
    const e = cur as { code?: unknown; cause?: unknown; errors?: unknown[] };
    if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return e.code;
    cur = e.cause ?? e.errors?.[0];
  }
  return undefined;
}

function toTransportError(err: unknown, baseUrl: string, timeoutMs: number): CliError {
  if (err instanceof Error && err.name === 'TimeoutError') {
    return new CliError(`the Drover API at ${baseUrl} did not answer within ${timeoutMs / 1000} s`);
  }
  const code = systemCode(err);
  if (code) return new ConnectionError(baseUrl, code);
  const cause = (err as { cause?: unknown }).cause;
  const why = cause instanceof Error ? cause.message : (err as Error).message;
  return new CliError(`request to ${baseUrl} failed: ${why} (is it the Drover API?)`);
}
