// Issues a device certificate inside the caller's transaction: signs it (fleet CA, or the
// cloud when it signs), registers it with the cloud, supersedes the active one (it stays
// valid through the overlap window) and records `certificate.issued`.
import { CertificateIssuedV1, type CloudEvent } from '@drover/contracts';
import { type CsrInfo, issueFromCsr, issueFromInspectedCsr, issueWithServerKey } from '@drover/pki';
import { refused } from '../domain/errors';
import { type CloudIdentity } from '../adapters/cloud/cloud-provider';
import * as certificates from '../adapters/postgres/certificate.repository';
import { type CertificateRow, type Executor } from '../adapters/postgres/schema';
import { certificateFacts, event, sha256Hex, summary } from './identity.helpers';
import { type ProvisioningContext } from './provisioning.context';

/**
 * What to issue from: a CSR (with its inspectCsr result when the caller checked it already, so
 * it is not parsed and verified twice) or a key generated here.
 */
export type IssueSource = { csrPem: string; csr?: CsrInfo } | { serverKey: true };

type Facts = ReturnType<typeof certificateFacts>;

/** A freshly issued certificate. */
export interface Issued {
  /** Its row. */
  row: CertificateRow;
  /** The generated key (server-key path only): handed over once. */
  privateKeyPem?: string;
  /** Events to enqueue with the transaction. */
  events: CloudEvent<unknown>[];
}

async function sign(
  ctx: ProvisioningContext,
  identity: CloudIdentity,
  source: IssueSource,
): Promise<{
  pem: string;
  cloudId: string | null;
  privateKeyPem?: string;
  signedHere: boolean;
  /** Known without parsing the certificate again (signed here from an inspected CSR). */
  facts?: Facts;
}> {
  if (ctx.cloud.issuesCertificates) {
    if (!('csrPem' in source)) {
      throw refused('server_keys_unsupported', `${ctx.cloud.kind} signs only CSRs`);
    }
    const issued = await ctx.cloud.issueCertificate(identity, source.csrPem);
    return { pem: issued.certificatePem, cloudId: issued.cloudCertificateId, signedHere: false };
  }
  const validityDays = ctx.settings.certValidityDays;
  const commonName = identity.deviceId;
  if ('csrPem' in source) {
    if (source.csr !== undefined) {
      const issued = await issueFromInspectedCsr(ctx.pki.fleet, source.csr, {
        commonName,
        validityDays,
      });
      return {
        pem: issued.certificatePem,
        cloudId: null,
        signedHere: true,
        facts: {
          serial: issued.serial,
          notBefore: issued.notBefore,
          notAfter: issued.notAfter,
          fingerprintSha256: issued.fingerprintSha256,
          // The certificate carries the CSR's SubjectPublicKeyInfo unchanged.
          publicKeySha256: sha256Hex(source.csr.publicKeyDer),
        },
      };
    }
    const issued = await issueFromCsr(ctx.pki.fleet, {
      csrPem: source.csrPem,
      commonName,
      validityDays,
    });
    return { pem: issued.certificatePem, cloudId: null, signedHere: true };
  }
  const issued = await issueWithServerKey(ctx.pki.fleet, { commonName, validityDays });
  return {
    pem: issued.certificatePem,
    cloudId: null,
    privateKeyPem: issued.privateKeyPem,
    signedHere: true,
  };
}

/**
 * Signs and registers a certificate and builds its row and `certificate.issued` event, without
 * writing anything: the caller stores them (a first provisioning in one statement, see
 * provision.repository). `previous` is the certificate it replaces, if any.
 */
export async function prepareDeviceCertificate(
  ctx: ProvisioningContext,
  identity: CloudIdentity,
  source: IssueSource,
  reason: 'provisioning' | 'reprovisioning' | 'renewal',
  now: Date,
  previous?: CertificateRow,
): Promise<Issued> {
  const signed = await sign(ctx, identity, source);
  const facts = signed.facts ?? certificateFacts(signed.pem);
  let cloudId = signed.cloudId;
  if (signed.signedHere) {
    cloudId = await ctx.cloud.registerCertificate(
      identity,
      { certificatePem: signed.pem, fingerprintSha256: facts.fingerprintSha256 },
      previous && {
        certificatePem: previous.certificate_pem,
        fingerprintSha256: previous.fingerprint_sha256,
      },
    );
  }
  const row: CertificateRow = {
    serial: facts.serial,
    tenant: identity.tenant,
    device_id: identity.deviceId,
    status: 'active',
    not_before: facts.notBefore,
    not_after: facts.notAfter,
    fingerprint_sha256: facts.fingerprintSha256,
    public_key_sha256: facts.publicKeySha256,
    certificate_pem: signed.pem,
    cloud_certificate_id: cloudId,
    issued_at: now,
    superseded_at: null,
    revoked_at: null,
    revocation_reason: null,
  };
  const issuedEvent = event(
    CertificateIssuedV1,
    identity.tenant,
    identity.deviceId,
    {
      device_id: identity.deviceId,
      reason,
      certificate: summary(row),
      ...(previous !== undefined && { replaces_serial: previous.serial }),
    },
    now,
  );
  return {
    row,
    ...(signed.privateKeyPem !== undefined && { privateKeyPem: signed.privateKeyPem }),
    events: [issuedEvent],
  };
}

/** Issues, registers and records a certificate; the previous active one becomes superseded. */
export async function issueDeviceCertificate(
  ctx: ProvisioningContext,
  trx: Executor,
  identity: CloudIdentity,
  source: IssueSource,
  reason: 'provisioning' | 'reprovisioning' | 'renewal',
): Promise<Issued> {
  const now = ctx.now();
  // A device created in this transaction has no certificate to supersede: one query less.
  // Superseded before signing (the transaction rolls it back if signing fails).
  const previous =
    reason === 'provisioning'
      ? undefined
      : await certificates.supersedeActive(trx, identity.tenant, identity.deviceId, now);
  const issued = await prepareDeviceCertificate(ctx, identity, source, reason, now, previous);
  await certificates.insertCertificate(trx, issued.row);
  return issued;
}
