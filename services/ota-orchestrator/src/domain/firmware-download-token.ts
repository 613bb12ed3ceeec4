// Expiring download URLs: `<base>/firmware/<firmware_id>/image?device=<id>&exp=<unix s>&sig=<mac>`
// where mac = base64url(HMAC-SHA256(secret, "<firmware_id>\n<device_id>\n<exp>")). The URL
// works for anyone holding it until `exp`; the device id is bound in for auditing (the access log
// names it) and so a leaked URL is traced to its device.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The signed parts of a download URL. */
export interface DownloadGrant {
  firmwareId: string;
  deviceId: string;
  /** Expiry, unix seconds. */
  expiresAt: number;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

function mac(secret: Buffer, grant: DownloadGrant): string {
  return createHmac('sha256', secret)
    .update(`${grant.firmwareId}\n${grant.deviceId}\n${grant.expiresAt}`)
    .digest('base64url');
}

/** The path and query of a signed download URL (append to the public base URL). */
export function signDownloadPath(secret: Buffer, grant: DownloadGrant): string {
  const q = new URLSearchParams({
    device: grant.deviceId,
    exp: String(grant.expiresAt),
    sig: mac(secret, grant),
  });
  return `/firmware/${encodeURIComponent(grant.firmwareId)}/image?${q.toString()}`;
}

/** Why a download request is refused. */
export type DownloadRefusal = 'not_found' | 'bad_request' | 'bad_signature' | 'expired';

/**
 * Checks a request path (with query) against the secret at `nowS` (unix seconds): the grant, or
 * why it is refused. Expiry is checked after the MAC, so a forged URL never learns about time.
 */
export function verifyDownloadPath(
  secret: Buffer,
  pathWithQuery: string,
  nowS: number,
): { ok: true; grant: DownloadGrant } | { ok: false; reason: DownloadRefusal } {
  const url = new URL(pathWithQuery, 'http://download.invalid');
  const match = /^\/firmware\/([^/]+)\/image$/.exec(url.pathname);
  if (match === null) return { ok: false, reason: 'not_found' };
  const firmwareId = decodeURIComponent(match[1]!);
  const deviceId = url.searchParams.get('device') ?? '';
  const exp = url.searchParams.get('exp') ?? '';
  const sig = url.searchParams.get('sig') ?? '';
  if (!ID.test(firmwareId) || !ID.test(deviceId) || !/^\d{1,12}$/.test(exp) || sig === '') {
    return { ok: false, reason: 'bad_request' };
  }
  const grant: DownloadGrant = { firmwareId, deviceId, expiresAt: Number(exp) };
  const want = Buffer.from(mac(secret, grant));
  const got = Buffer.from(sig);
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    return { ok: false, reason: 'bad_signature' };
  }
  if (grant.expiresAt <= nowS) return { ok: false, reason: 'expired' };
  return { ok: true, grant };
}

/** A single byte range of an HTTP Range header over a body of `size` bytes. */
export type ByteRange = { start: number; end: number } | 'unsatisfiable' | null;

/**
 * Parses `Range: bytes=a-b` (one range; `a-`, `-n` suffix forms). Null = serve the whole body
 * (no header, or a form this server ignores such as several ranges); 'unsatisfiable' = 416.
 */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (header === undefined) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null) return null;
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return null;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
