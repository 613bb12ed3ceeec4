/** An error the CLI reports as one line and exit code 1, without a stack trace. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

/** An error answer from the API: `{error_code, detail, correlation_id}`. */
export class ApiError extends CliError {
  constructor(
    /** HTTP status of the answer. */
    readonly status: number,
    /** The API's stable error code, e.g. `device_not_found`. */
    readonly errorCode: string,
    /** The human-readable detail. */
    readonly detail: string,
    /** The correlation id to look the request up in the logs. */
    readonly correlationId: string | undefined,
  ) {
    super(formatApiError(errorCode, detail, correlationId));
    this.name = 'ApiError';
  }
}

/** The API could not be reached at all (refused, unknown host, reset). */
export class ConnectionError extends CliError {
  constructor(
    /** The URL that could not be reached. */
    readonly url: string,
    /** The system error code, e.g. ECONNREFUSED. */
    readonly code: string,
  ) {
    super(`cannot reach the Drover API at ${url} (${code}): is the platform running? (npm start)`);
    this.name = 'ConnectionError';
  }
}

export function formatApiError(code: string, detail: string, correlationId?: string): string {
  return correlationId ? `${code}: ${detail} (${correlationId})` : `${code}: ${detail}`;
}
