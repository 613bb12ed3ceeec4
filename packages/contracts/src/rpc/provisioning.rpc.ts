// The provisioning RPC contract (gateway/ingress <-> provisioning over the NATS services API).
// Bodies are snake_case JSON. Requests are open (a newer caller never breaks an older service);
// responses are documented for the gateway's OpenAPI. `tenant` is the caller's token tenant;
// only `provision` may omit it (the MQTT path knows no tenant: the enrollment decides it).
import { type Static, Type } from '@sinclair/typebox';
import { ID_PATTERN } from '../ids';
import { ProvisioningResponse } from '../payloads/platform.schema';

/** The RPC service name (`rpcSubject(naming, PROVISIONING_SERVICE, op)`). */
export const PROVISIONING_SERVICE = 'provisioning';

/** Operation names of the provisioning service. */
export const ProvisioningOps = {
  createEnrollment: 'create_enrollment',
  listEnrollments: 'list_enrollments',
  provision: 'provision',
  rotateCertificate: 'rotate_certificate',
  revokeCertificate: 'revoke_certificate',
  getCertificate: 'get_certificate',
  listExpiring: 'list_expiring',
} as const;
/** One of the provisioning operation names. */
export type ProvisioningOp = (typeof ProvisioningOps)[keyof typeof ProvisioningOps];

const Id = (description: string) => Type.String({ pattern: ID_PATTERN.source, description });
const PemText = (description: string) =>
  Type.String({ minLength: 1, maxLength: 16384, pattern: '-----BEGIN ', description });
const Timestamp = (description: string) => Type.String({ minLength: 1, description });

/** `create_enrollment`: individual (`hardware_ids`) or group (`bootstrap_ca_pem`), not both. */
export const CreateEnrollmentRequest = Type.Object({
  tenant: Id('tenant'),
  device_type: Id('device type of the enrolled devices'),
  hardware_ids: Type.Optional(
    Type.Array(Id('hardware id'), { minItems: 1, maxItems: 10000, description: 'individual' }),
  ),
  bootstrap_ca_pem: Type.Optional(PemText('group: any bootstrap cert chaining to this CA')),
  allow_server_keys: Type.Optional(
    Type.Boolean({ description: 'let the platform generate the key when no CSR is sent' }),
  ),
});
/** Request of `create_enrollment`. */
export type CreateEnrollmentRequest = Static<typeof CreateEnrollmentRequest>;

/** An enrollment as returned by the service. */
export const Enrollment = Type.Object({
  enrollment_id: Id('enrollment id'),
  tenant: Id('tenant'),
  device_type: Id('device type'),
  kind: Type.Union([Type.Literal('individual'), Type.Literal('group')]),
  hardware_id_count: Type.Integer({ description: 'individual: number of hardware ids' }),
  bootstrap_ca_fingerprint: Type.Union([Type.String(), Type.Null()]),
  allow_server_keys: Type.Boolean(),
  created_at: Timestamp('RFC 3339'),
});
/** An enrollment. */
export type Enrollment = Static<typeof Enrollment>;

/** `list_enrollments` */
export const ListEnrollmentsRequest = Type.Object({
  tenant: Id('tenant'),
  device_type: Type.Optional(Id('filter by device type')),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  cursor: Type.Optional(Type.String({ maxLength: 256 })),
});
/** Answer of `list_enrollments`. */
export const EnrollmentList = Type.Object({
  items: Type.Array(Enrollment),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});

/**
 * `provision`: `csr` (preferred) or none (server key, if the enrollment allows). On the MQTT
 * path the ingress passes the client's bootstrap certificate and the request's msg_id.
 */
export const ProvisionRequest = Type.Object({
  tenant: Type.Optional(Id('REST: the token tenant; MQTT: omitted')),
  hardware_id: Id('hardware id (bootstrap CN)'),
  device_type: Id('device type'),
  csr: Type.Optional(PemText('PKCS#10; proves possession of the key')),
  bootstrap_cert_pem: Type.Optional(PemText('MQTT path: the client bootstrap certificate')),
  hardware_model: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  request_id: Type.String({ minLength: 1, maxLength: 64, description: 'msg_id/Idempotency-Key' }),
});
/** Request of `provision`. */
export type ProvisionRequest = Static<typeof ProvisionRequest>;
/** Answer of `provision`: the device protocol's provisioning response (ok or error). */
export const ProvisionResponse = ProvisioningResponse;

/** Certificate summary of a device. */
export const DeviceCertificate = Type.Object({
  device_id: Id('device'),
  serial: Type.String(),
  fingerprint_sha256: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('superseded'), Type.Literal('revoked')]),
  not_before: Timestamp('RFC 3339'),
  not_after: Timestamp('RFC 3339'),
  revoked_at: Type.Union([Type.String(), Type.Null()]),
});
/** A certificate summary. */
export type DeviceCertificate = Static<typeof DeviceCertificate>;

/** `get_certificate`: the device's certificates, newest first. */
export const GetCertificateRequest = Type.Object({ tenant: Id('tenant'), device_id: Id('device') });
/** Answer of `get_certificate`. */
export const GetCertificateResponse = Type.Object({
  device_id: Id('device'),
  current: Type.Union([DeviceCertificate, Type.Null()]),
  certificates: Type.Array(DeviceCertificate),
});

/** `rotate_certificate`: sends the `certificate.rotate` command to the device. */
export const RotateCertificateRequest = GetCertificateRequest;
/** Answer of `rotate_certificate`. */
export const RotateCertificateResponse = Type.Object({
  device_id: Id('device'),
  command_id: Type.String({ description: 'msg_id of the certificate.rotate command' }),
  status: Type.Literal('requested'),
});

/** `revoke_certificate`: revokes one serial, or every unrevoked certificate of the device. */
export const RevokeCertificateRequest = Type.Object({
  tenant: Id('tenant'),
  device_id: Id('device'),
  serial: Type.Optional(Type.String({ pattern: '^[0-9a-f]{1,64}$' })),
});
/** Answer of `revoke_certificate`. */
export const RevokeCertificateResponse = Type.Object({
  device_id: Id('device'),
  revoked_serials: Type.Array(Type.String()),
});

/** `list_expiring`: devices whose active certificate expires within `within_days`. */
export const ListExpiringRequest = Type.Object({
  tenant: Id('tenant'),
  within_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  only_offline: Type.Optional(Type.Boolean({ description: 'devices not online (default true)' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
});
/** Answer of `list_expiring`. */
export const ListExpiringResponse = Type.Object({
  items: Type.Array(
    Type.Object({
      device_id: Id('device'),
      serial: Type.String(),
      not_after: Timestamp('RFC 3339'),
      online: Type.Boolean(),
    }),
  ),
});

/** Request and response schema of every operation. */
export const ProvisioningRpc = {
  [ProvisioningOps.createEnrollment]: { request: CreateEnrollmentRequest, response: Enrollment },
  [ProvisioningOps.listEnrollments]: { request: ListEnrollmentsRequest, response: EnrollmentList },
  [ProvisioningOps.provision]: { request: ProvisionRequest, response: ProvisionResponse },
  [ProvisioningOps.rotateCertificate]: {
    request: RotateCertificateRequest,
    response: RotateCertificateResponse,
  },
  [ProvisioningOps.revokeCertificate]: {
    request: RevokeCertificateRequest,
    response: RevokeCertificateResponse,
  },
  [ProvisioningOps.getCertificate]: {
    request: GetCertificateRequest,
    response: GetCertificateResponse,
  },
  [ProvisioningOps.listExpiring]: { request: ListExpiringRequest, response: ListExpiringResponse },
} as const;
