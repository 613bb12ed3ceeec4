// Zero-touch provisioning: enrollment check, same hardware id → same device id, a new
// certificate only for a new key, and the same answer for a retried request (request_id).
import {
  ProvisioningCompletedV1,
  ProvisioningFailedV1,
  type ProvisionRequest,
  type ProvisioningResponse,
} from '@drover/contracts';
import { hashId } from '@drover/observability';
import { type CsrInfo, inspectCsr, PkiError, verifyCertificateChain, x509 } from '@drover/pki';
import { DomainError, UnavailableError } from '@drover/service-kit';
import { type EnrollmentCandidate, matchEnrollment } from '../domain/enrollment.rules';
import { eventMessages, outboxRows } from '@drover/bus';
import {
  checkBootstrapIdentity,
  decideProvision,
  type ProvisionDecision,
} from '../domain/provisioning.rules';
import { invalid, refused } from '../domain/errors';
import * as identities from '../adapters/postgres/identity.repository';
import { listDeviceCertificates } from '../adapters/postgres/certificate.repository';
import { openAnswer, saveResult, sealAnswer } from '../adapters/postgres/request-result.repository';
import {
  insertNewProvisioning,
  readProvisionState,
} from '../adapters/postgres/provision.repository';
import { outboxEvents } from '../adapters/postgres/outbox';
import {
  type CertificateRow,
  type EnrollmentRow,
  type Executor,
} from '../adapters/postgres/schema';
import { type CloudIdentity } from '../adapters/cloud/cloud-provider';
import {
  issueDeviceCertificate,
  type IssueSource,
  prepareDeviceCertificate,
} from './certificate.issuer';
import { deviceTopics, event, newId, newMsgId, sha256Hex, summary } from './identity.helpers';
import { type ProvisioningContext } from './provisioning.context';

/** Tenant of `provisioning.failed` when no enrollment named one (MQTT, not enrolled). */
export const UNKNOWN_TENANT = '_unenrolled';

type OkResponse = Extract<ProvisioningResponse, { status: 'ok' }>;

function bootstrapCommonName(pem: string): string | undefined {
  try {
    return new x509.X509Certificate(pem).subjectName.getField('CN')[0];
  } catch (err) {
    throw invalid('bad_bootstrap_cert', `bootstrap certificate: ${(err as Error).message}`);
  }
}

/** The CSR checked once (signature, key policy); issuing reuses the result. */
async function checkCsr(csr: string | undefined): Promise<CsrInfo | undefined> {
  if (csr === undefined) return undefined;
  try {
    return await inspectCsr(csr);
  } catch (err) {
    if (err instanceof PkiError) throw invalid('bad_csr', err.message);
    throw err;
  }
}

async function candidates(
  rows: EnrollmentRow[],
  bootstrapPem: string | undefined,
): Promise<EnrollmentCandidate[]> {
  return Promise.all(
    rows.map(async (r) => ({
      enrollmentId: r.enrollment_id,
      tenant: r.tenant,
      deviceType: r.device_type,
      kind: r.kind,
      allowServerKeys: r.allow_server_keys,
      // A group admits only a bootstrap certificate its CA signed (the broker saw the same).
      bootstrapVerified:
        r.kind === 'group' &&
        bootstrapPem !== undefined &&
        (await verifyCertificateChain(bootstrapPem, [r.bootstrap_ca_pem!])).ok,
    })),
  );
}

/** `provision`: throws DomainErrors (`not_enrolled`, `bad_csr`, `hardware_mismatch`, ...). */
export async function provision(
  ctx: ProvisioningContext,
  req: ProvisionRequest,
): Promise<ProvisioningResponse> {
  const hardwareKey = sha256Hex(req.hardware_id);
  const resultKey = `prov:${hardwareKey}:${req.request_id}`;
  // One read: the stored answer of a retried request, the enrollments, whether it is known.
  const state = await readProvisionState(ctx.db, resultKey, hardwareKey);
  const prior = storedAnswer(ctx, state.prior, resultKey);
  if (prior !== undefined) return prior as ProvisioningResponse;
  let tenant = req.tenant;
  try {
    const bootstrapCn =
      req.bootstrap_cert_pem === undefined
        ? undefined
        : bootstrapCommonName(req.bootstrap_cert_pem);
    checkBootstrapIdentity(req.hardware_id, bootstrapCn);
    const csrInfo = await checkCsr(req.csr);
    const keyId = csrInfo && sha256Hex(csrInfo.publicKeyDer);
    const enrollment = matchEnrollment(
      await candidates(state.enrollments, req.bootstrap_cert_pem),
      { tenant: req.tenant, deviceType: req.device_type, hasCsr: req.csr !== undefined },
    );
    tenant = enrollment.tenant;
    // Refused before any cloud call: a cloud that signs only CSRs cannot make the key.
    if (req.csr === undefined && ctx.cloud.issuesCertificates) {
      throw refused('server_keys_unsupported', `${ctx.cloud.kind} signs only CSRs`);
    }
    const request: Checked = { req, hardwareKey, resultKey, enrollment, csrInfo, keyId };
    // A hardware id seen before takes the locking transaction (reprovisioning, same key); a
    // first provisioning is one statement (a concurrent first one makes it fail as a conflict).
    const response = state.known
      ? await ctx.db.transaction().execute((trx) => provisionKnown(ctx, trx, request))
      : await provisionNew(ctx, request);
    ctx.notifyOutbox();
    ctx.logger.info(
      { event: 'provisioning.completed', device_id: response.device_id },
      'device provisioned',
    );
    return response;
  } catch (err) {
    if (isUniqueViolation(err)) {
      // Two first provisionings of one hardware id raced; the loser's retry finds the winner.
      throw new UnavailableError('provisioning_conflict', 'concurrent provisioning, retry');
    }
    if (err instanceof DomainError && err.status < 500) {
      await recordFailure(ctx, tenant ?? UNKNOWN_TENANT, req, err);
    }
    throw err;
  }
}

/** The stored answer opened, or undefined (none, or sealed with a key this service lost). */
function storedAnswer(ctx: ProvisioningContext, stored: unknown, key: string): unknown {
  if (stored === undefined) return undefined;
  try {
    return openAnswer(stored, key, ctx.resultCipher);
  } catch (err) {
    ctx.logger.warn(
      { event: 'provisioning.stored_answer_unreadable', err: (err as Error).message },
      'stored answer cannot be decrypted (key rotated?); handled as a new request',
    );
    return undefined;
  }
}

/** A request past its checks (CSR, bootstrap identity, enrollment). */
interface Checked {
  req: ProvisionRequest;
  hardwareKey: string;
  resultKey: string;
  enrollment: MatchedEnrollment;
  csrInfo: CsrInfo | undefined;
  keyId: string | undefined;
}

type MatchedEnrollment = ReturnType<typeof matchEnrollment>;

function issueSource(c: Checked, decision: ProvisionDecision): IssueSource {
  return decision.issue === 'server_key'
    ? { serverKey: true }
    : { csrPem: c.req.csr!, ...(c.csrInfo !== undefined && { csr: c.csrInfo }) };
}

/** `provisioning.completed` and the device's answer. */
function completion(
  ctx: ProvisioningContext,
  c: Checked,
  identity: CloudIdentity,
  newDevice: boolean,
  cert: CertificateRow,
  privateKey: string | undefined,
  endpoints: OkResponse['endpoints'],
) {
  const now = ctx.now();
  const completed = event(
    ProvisioningCompletedV1,
    identity.tenant,
    identity.deviceId,
    {
      tenant: identity.tenant,
      device_id: identity.deviceId,
      device_type: identity.deviceType,
      hardware_id_hash: c.hardwareKey,
      ...(c.req.hardware_model !== undefined && { hardware_model: c.req.hardware_model }),
      enrollment_id: c.enrollment.enrollmentId,
      reprovisioned: !newDevice,
      certificate: summary(cert),
    },
    now,
  );
  const answer: OkResponse = {
    msg_id: newMsgId(),
    ts: now.toISOString(),
    schema_version: 1,
    request_id: c.req.request_id,
    status: 'ok',
    device_id: identity.deviceId,
    tenant: identity.tenant,
    certificate: cert.certificate_pem,
    ca_chain: ctx.pki.fleet.chainPems.join(''),
    ...(privateKey !== undefined && { private_key: privateKey }),
    endpoints,
    topics: deviceTopics(identity.tenant, identity.deviceType, identity.deviceId),
  };
  return { completed, answer };
}

/** First provisioning of a hardware id: cloud, signing, then one statement writes it all. */
async function provisionNew(ctx: ProvisioningContext, c: Checked): Promise<OkResponse> {
  const decision = decideProvision({
    hardwareId: c.req.hardware_id,
    enrollment: c.enrollment,
    csrKeyId: c.keyId,
    existing: null,
  });
  const identity = {
    tenant: c.enrollment.tenant,
    deviceType: c.enrollment.deviceType,
    deviceId: newId('d'),
  };
  await ctx.cloud.createIdentity(identity);
  const issued = await prepareDeviceCertificate(
    ctx,
    identity,
    issueSource(c, decision),
    'provisioning',
    ctx.now(),
  );
  const { completed, answer } = completion(
    ctx,
    c,
    identity,
    true,
    issued.row,
    issued.privateKeyPem,
    await ctx.cloud.endpoints(),
  );
  await insertNewProvisioning(ctx.db, {
    identity: {
      hardware_key: c.hardwareKey,
      tenant: identity.tenant,
      device_id: identity.deviceId,
      device_type: identity.deviceType,
      enrollment_id: c.enrollment.enrollmentId,
      hardware_model: c.req.hardware_model ?? null,
    },
    certificate: issued.row,
    outbox: outboxRows(eventMessages([...issued.events, completed])),
    result: {
      key: c.resultKey,
      response: JSON.stringify(sealAnswer(answer, c.resultKey, ctx.resultCipher)),
    },
  });
  return answer;
}

/** A hardware id provisioned before: its identity row locked for the transaction. */
async function provisionKnown(
  ctx: ProvisioningContext,
  trx: Executor,
  c: Checked,
): Promise<OkResponse> {
  const { req, enrollment } = c;
  const existing = await identities.lockIdentityByHardware(trx, c.hardwareKey);
  const active =
    existing === undefined
      ? undefined
      : (await listDeviceCertificates(trx, existing.tenant, existing.device_id)).find(
          (r) => r.status === 'active',
        );
  const decision = decideProvision({
    hardwareId: req.hardware_id,
    enrollment,
    csrKeyId: c.keyId,
    existing:
      existing === undefined
        ? null
        : {
            deviceId: existing.device_id,
            tenant: existing.tenant,
            deviceType: existing.device_type,
            activeKeyId: active?.public_key_sha256 ?? null,
            decommissioned: existing.decommissioned_at !== null,
          },
  });
  const identity = {
    tenant: enrollment.tenant,
    deviceType: enrollment.deviceType,
    deviceId: existing?.device_id ?? newId('d'),
  };
  if (decision.newDevice) {
    await identities.insertIdentity(trx, {
      hardware_key: c.hardwareKey,
      tenant: identity.tenant,
      device_id: identity.deviceId,
      device_type: identity.deviceType,
      enrollment_id: enrollment.enrollmentId,
      hardware_model: req.hardware_model ?? null,
    });
    await ctx.cloud.createIdentity(identity);
  }
  let cert = active;
  let privateKey: string | undefined;
  const events = [];
  if (decision.issue !== 'reuse' || cert === undefined) {
    const issued = await issueDeviceCertificate(
      ctx,
      trx,
      identity,
      issueSource(c, decision),
      decision.newDevice ? 'provisioning' : 'reprovisioning',
    );
    cert = issued.row;
    privateKey = issued.privateKeyPem;
    events.push(...issued.events);
  }
  const { completed, answer } = completion(
    ctx,
    c,
    identity,
    decision.newDevice,
    cert,
    privateKey,
    await ctx.cloud.endpoints(),
  );
  events.push(completed);
  await outboxEvents(trx, events);
  await saveResult(trx, c.resultKey, answer, ctx.resultCipher);
  return answer;
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code === '23505';
}

async function recordFailure(
  ctx: ProvisioningContext,
  tenant: string,
  req: ProvisionRequest,
  err: DomainError,
): Promise<void> {
  ctx.logger.warn(
    {
      event: 'provisioning.failed',
      error_code: err.code,
      hardware_id_hash: hashId(req.hardware_id),
    },
    err.detail,
  );
  await outboxEvents(ctx.db, [
    event(
      ProvisioningFailedV1,
      tenant,
      undefined,
      {
        device_type: req.device_type,
        hardware_id_hash: sha256Hex(req.hardware_id),
        error_code: err.code,
        detail: err.detail.slice(0, 1024),
      },
      ctx.now(),
    ),
  ]);
  ctx.notifyOutbox();
}
