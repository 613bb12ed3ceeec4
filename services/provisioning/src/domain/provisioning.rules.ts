// Provisioning decisions: who the device is (same hardware id → same device id) and whether a
// new certificate is due (only for a new key: a CSR for the key already certified gets the
// current certificate back).
import { refused } from './errors';

/** A hardware id already provisioned. */
export interface ExistingIdentity {
  /** Its device id (kept forever). */
  deviceId: string;
  /** Tenant. */
  tenant: string;
  /** Device type. */
  deviceType: string;
  /** SHA-256 of the SubjectPublicKeyInfo of its active certificate, if any. */
  activeKeyId: string | null;
  /** Whether the device was decommissioned (its hardware may not come back by itself). */
  decommissioned?: boolean;
}

/** The inputs of {@link decideProvision}. */
export interface ProvisionFacts {
  /** Hardware id in the request. */
  hardwareId: string;
  /** CN of the bootstrap certificate the client presented (MQTT path). */
  bootstrapCn?: string | undefined;
  /** Tenant and device type of the matched enrollment. */
  enrollment: { tenant: string; deviceType: string };
  /** The identity of this hardware id, if it was provisioned before. */
  existing: ExistingIdentity | null;
  /** SHA-256 of the CSR's public key, or undefined without CSR. */
  csrKeyId?: string | undefined;
}

/** What to do. */
export interface ProvisionDecision {
  /** True for a first provisioning. */
  newDevice: boolean;
  /** `reuse`: answer with the active certificate; `csr`/`server_key`: issue a new one. */
  issue: 'reuse' | 'csr' | 'server_key';
}

/** Throws `hardware_mismatch` when the bootstrap identity does not name the hardware id. */
export function checkBootstrapIdentity(hardwareId: string, bootstrapCn?: string): void {
  if (bootstrapCn !== undefined && bootstrapCn !== hardwareId) {
    throw refused('hardware_mismatch', 'the bootstrap certificate names another hardware id');
  }
}

/** Decides between a new device, a new certificate and the current one. */
export function decideProvision(facts: ProvisionFacts): ProvisionDecision {
  checkBootstrapIdentity(facts.hardwareId, facts.bootstrapCn);
  const { existing, enrollment } = facts;
  if (
    existing !== null &&
    (existing.tenant !== enrollment.tenant || existing.deviceType !== enrollment.deviceType)
  ) {
    // The device id is bound to its first tenant and type; moving hardware needs an operator.
    throw refused('hardware_mismatch', 'the hardware id is provisioned as another device type');
  }
  if (existing?.decommissioned === true) {
    throw refused('decommissioned', 'the device of this hardware id is decommissioned');
  }
  const newDevice = existing === null;
  if (facts.csrKeyId === undefined) return { newDevice, issue: 'server_key' };
  const sameKey = existing !== null && existing.activeKeyId === facts.csrKeyId;
  return { newDevice, issue: sameKey ? 'reuse' : 'csr' };
}

/** Throws `bad_csr` unless a renewal CSR names the device (CN = device id). */
export function checkRenewalSubject(deviceId: string, csrCn: string | undefined): void {
  if (csrCn !== deviceId) {
    throw refused('bad_csr', 'the renewal CSR must have CN = the device id');
  }
}
