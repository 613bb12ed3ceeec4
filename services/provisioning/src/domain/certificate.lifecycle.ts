// Certificate lifecycle rules: when a superseded certificate may be revoked, and what the expiry
// scan does with each active certificate.

/** Status of a certificate row. */
export type CertificateStatus = 'active' | 'superseded' | 'revoked';

/** A certificate as the lifecycle rules see it. */
export interface CertificateFacts {
  /** Serial (hex). */
  serial: string;
  /** Status. */
  status: CertificateStatus;
  /** When it was issued (epoch ms). */
  issuedAtMs: number;
}

/** What an `online` presence tells about the connection. */
export interface ConnectionEvidence {
  /** When the device connected (epoch ms, the device's `ts`). */
  connectedAtMs: number;
  /** Serial of the certificate used, when the broker/ingress can tell (EMQX, TLS termination). */
  certSerial?: string | undefined;
}

/**
 * Serials of superseded certificates that may be revoked now. Without a serial in the presence,
 * an `online` presence after the newest certificate was issued proves a reconnect after the
 * renewal answer, and the device reconnects with the new certificate (DEVICE-PROTOCOL).
 */
export function supersededToRevoke(
  certs: readonly CertificateFacts[],
  evidence: ConnectionEvidence,
): string[] {
  const active = certs.find((c) => c.status === 'active');
  if (active === undefined) return [];
  const usedNew =
    evidence.certSerial === undefined
      ? evidence.connectedAtMs > active.issuedAtMs
      : evidence.certSerial === active.serial;
  if (!usedNew) return [];
  return certs.filter((c) => c.status === 'superseded').map((c) => c.serial);
}

/** Inputs of {@link expiryAction}. */
export interface ExpiryFacts {
  /** Certificate expiry (epoch ms). */
  notAfterMs: number;
  /** Now (epoch ms). */
  nowMs: number;
  /** Renewal window in days (`CERT_RENEW_BEFORE_DAYS`). */
  renewBeforeDays: number;
  /** Whether the device is online now. */
  online: boolean;
  /** When a rotation was last requested (epoch ms), if ever. */
  rotateRequestedAtMs: number | null;
  /** Minimum time between two rotation requests. */
  rotateRetryMs: number;
}

/** The expiry scan's verdict for one certificate. */
export interface ExpiryVerdict {
  /** Whole days left (negative once expired). */
  daysLeft: number;
  /** `none`: not in the window; `rotate`: ask the device; `offline`: list it; `wait`: asked recently. */
  action: 'none' | 'rotate' | 'offline' | 'wait';
}

const DAY_MS = 86_400_000;

/** Decides what the scan does about one active certificate. */
export function expiryAction(f: ExpiryFacts): ExpiryVerdict {
  const daysLeft = Math.floor((f.notAfterMs - f.nowMs) / DAY_MS);
  if (f.notAfterMs - f.nowMs > f.renewBeforeDays * DAY_MS) return { daysLeft, action: 'none' };
  if (!f.online) return { daysLeft, action: 'offline' };
  const recent =
    f.rotateRequestedAtMs !== null && f.nowMs - f.rotateRequestedAtMs < f.rotateRetryMs;
  return { daysLeft, action: recent ? 'wait' : 'rotate' };
}

/** When a periodic job runs next: one interval after now (the scan's own clock). */
export function nextRunAt(nowMs: number, intervalMs: number): number {
  return nowMs + intervalMs;
}
