// Which client-supplied correlation ids the gateway adopts (X-Correlation-Id).

/** A correlation id we accept from a client: short, no whitespace or separators of log formats. */
export const CORRELATION_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's correlation id when it is usable, else `undefined` (the caller mints one). */
export function acceptCorrelationId(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && CORRELATION_ID_PATTERN.test(value) ? value : undefined;
}
