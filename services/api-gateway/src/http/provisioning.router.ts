// /api/v1 provisioning: enrollments, REST provisioning (factory lines, installer apps) and the
// certificate lifecycle of a device, over the provisioning service's RPC.
//
// POST /devices/provision opts out of the gateway's Idempotency-Key store: its answer may carry
// a server-generated private key, which must not sit in Redis in plaintext. The key is handed
// to the provisioning service as `request_id` instead; the service keeps the answer for 24 h
// with the private key encrypted (AES-256-GCM) and replays it for a retry.
import { Type } from '@sinclair/typebox';
import { rpcRequest } from '@drover/bus';
import {
  CreateEnrollmentRequest,
  Enrollment,
  EnrollmentList,
  GetCertificateResponse,
  ID_PATTERN,
  newUlid,
  PROVISIONING_SERVICE,
  ProvisioningOps,
  ProvisionRequest,
  ProvisionResponse,
  RevokeCertificateResponse,
  RotateCertificateResponse,
} from '@drover/contracts';
import { ForbiddenError, ValidationError } from '@drover/service-kit';
import { principalOf } from '../auth/auth.hook';
import { checkIdempotencyKey } from '../domain/idempotency';
import { resolveCursor, resolveLimit } from '../domain/pagination';
import { mapProvisioningError, provisionRequestId } from '../domain/provisioning';
import { type ContextRouter } from './router.types';
import { IdParams, MutationHeaders, PageQuery, responses } from './schemas';

const tags = ['provisioning'];
const write = { scope: 'provisioning:write' as const };
const read = { scope: 'devices:read' as const };

/** `POST /enrollments` body. */
export const CreateEnrollmentBody = Type.Omit(CreateEnrollmentRequest, ['tenant'], {
  additionalProperties: false,
});

/** `GET /enrollments` query. */
export const ListEnrollmentsQuery = Type.Composite(
  [
    Type.Object({
      device_type: Type.Optional(
        Type.String({ pattern: ID_PATTERN.source, description: 'only this device type' }),
      ),
    }),
    PageQuery,
  ],
  { additionalProperties: false },
);

/** `POST /devices/provision` body. */
export const ProvisionBody = Type.Pick(
  ProvisionRequest,
  ['hardware_id', 'device_type', 'csr', 'hardware_model'],
  { additionalProperties: false },
);

/** 200 answer of `POST /devices/provision`: the device protocol's `ok` provisioning answer. */
export const ProvisionedDevice = ProvisionResponse.anyOf[0];

/** `POST /devices/{id}/certificate/revoke` body (optional). */
export const RevokeCertificateBody = Type.Object(
  {
    serial: Type.Optional(
      Type.String({
        pattern: '^[0-9a-f]{1,64}$',
        description: 'revoke only this certificate (default: every unrevoked one)',
      }),
    ),
    reason: Type.Optional(Type.String({ maxLength: 512, description: 'why, for the audit log' })),
  },
  { additionalProperties: false },
);

type ProvisionAnswer =
  { status: 'ok' } | { status: 'error'; error: { code: string; detail?: string } };

/** Provisioning routes. */
export const provisioningRouter: ContextRouter = {
  name: 'provisioning',
  // Like commands: devices work without it, so it is not a readiness dependency.
  services: [],
  plugin: async (app, { bus }) => {
    const call = async <T>(op: string, body: Record<string, unknown>, correlationId: string) => {
      try {
        return await rpcRequest<T>(bus, PROVISIONING_SERVICE, op, body, { correlationId });
      } catch (err) {
        throw mapProvisioningError(err);
      }
    };

    app.post(
      '/enrollments',
      {
        config: write,
        schema: {
          headers: MutationHeaders,
          tags,
          summary: 'Enroll hardware ids (individual) or a bootstrap CA (group) for a device type',
          body: CreateEnrollmentBody,
          response: responses({ 201: Enrollment }, [409, 422]),
        },
      },
      async (request, reply) => {
        const { tenant } = principalOf(request);
        const enrollment = await call<Enrollment>(
          ProvisioningOps.createEnrollment,
          { ...request.body, tenant },
          request.id,
        );
        return reply.code(201).send(enrollment);
      },
    );

    app.get(
      '/enrollments',
      {
        config: write,
        schema: {
          tags,
          summary: "List the tenant's enrollments, newest first",
          querystring: ListEnrollmentsQuery,
          response: responses({ 200: EnrollmentList }),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        const { limit, cursor, device_type } = request.query;
        return call(
          ProvisioningOps.listEnrollments,
          {
            tenant,
            ...(device_type !== undefined && { device_type }),
            limit: resolveLimit(limit),
            ...(cursor !== undefined && { cursor: resolveCursor(cursor) }),
          },
          request.id,
        );
      },
    );

    app.post(
      '/devices/provision',
      {
        config: { ...write, idempotency: 'service' as const },
        schema: {
          headers: MutationHeaders,
          tags,
          summary:
            'Provision a device: same hardware id, same device id; a certificate for the CSR ' +
            '(or a server-generated key when the enrollment allows it)',
          body: ProvisionBody,
          response: responses({ 200: ProvisionedDevice }, [409]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        const check = checkIdempotencyKey(request.headers['idempotency-key']);
        if (check.kind === 'invalid') {
          throw new ValidationError(
            'invalid_idempotency_key',
            'Idempotency-Key must be 1-255 printable ASCII characters, sent once',
          );
        }
        const requestId = provisionRequestId(check.kind === 'valid' ? check.key : undefined, () =>
          newUlid(),
        );
        const answer = await call<ProvisionAnswer>(
          ProvisioningOps.provision,
          { ...request.body, tenant, request_id: requestId },
          request.id,
        );
        if (answer.status === 'error') {
          // The service throws its refusals; an error answer is still mapped, never sent as 200.
          throw mapProvisioningError(
            new ForbiddenError(answer.error.code, answer.error.detail ?? 'provisioning refused'),
          );
        }
        return answer;
      },
    );

    app.get(
      '/devices/:id/certificate',
      {
        config: read,
        schema: {
          tags,
          summary: "The device's certificates, newest first, and the active one",
          params: IdParams,
          response: responses({ 200: GetCertificateResponse }, [404]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return call(
          ProvisioningOps.getCertificate,
          { tenant, device_id: request.params.id },
          request.id,
        );
      },
    );

    app.post(
      '/devices/:id/certificate/rotate',
      {
        config: write,
        schema: {
          headers: MutationHeaders,
          tags,
          summary: 'Ask the device to renew its certificate (certificate.rotate command)',
          params: IdParams,
          response: responses({ 202: RotateCertificateResponse }, [404, 409, 422]),
        },
      },
      async (request, reply) => {
        const { tenant } = principalOf(request);
        const answer = await call(
          ProvisioningOps.rotateCertificate,
          { tenant, device_id: request.params.id },
          request.id,
        );
        return reply.code(202).send(answer);
      },
    );

    app.post(
      '/devices/:id/certificate/revoke',
      {
        config: write,
        schema: {
          headers: MutationHeaders,
          tags,
          summary: "Revoke one certificate (serial) or all of the device's; the CRL is regenerated",
          params: IdParams,
          body: RevokeCertificateBody,
          response: responses({ 200: RevokeCertificateResponse }, [404, 409, 422]),
        },
        // The body is optional: no body means "every certificate, no reason".
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request) => {
        const { tenant, sub } = principalOf(request);
        const body = request.body;
        const answer = await call<{ device_id: string; revoked_serials: string[] }>(
          ProvisioningOps.revokeCertificate,
          {
            tenant,
            device_id: request.params.id,
            ...(body.serial !== undefined && { serial: body.serial }),
          },
          request.id,
        );
        request.log.info(
          {
            event: 'certificate.revoke_requested',
            device_id: request.params.id,
            by: sub,
            reason: body.reason ?? null,
            revoked_serials: answer.revoked_serials,
          },
          'certificates revoked on request',
        );
        return answer;
      },
    );
  },
};
