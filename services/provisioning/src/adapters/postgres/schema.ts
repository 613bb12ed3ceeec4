// Typed tables of the provisioning schema (kysely style) and the DB interface.
import {
  type ColumnType,
  type Insertable,
  type Kysely,
  type Selectable,
  type Transaction,
} from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<
  Date | null,
  Date | string | null | undefined,
  Date | string | null
>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

/** `enrollments`: who may provision, per tenant and device type. */
export interface EnrollmentTable {
  /** Id (`e-<ulid>`). */
  enrollment_id: string;
  /** Tenant. */
  tenant: string;
  /** Device type of the devices it admits. */
  device_type: string;
  /** `individual` or `group`. */
  kind: 'individual' | 'group';
  /** Whether requests without CSR get a server-generated key. */
  allow_server_keys: boolean;
  /** Group: the bootstrap CA (PEM). */
  bootstrap_ca_pem: string | null;
  /** Group: SHA-256 of the CA certificate. */
  bootstrap_ca_fingerprint: string | null;
  /** Individual: number of hardware ids. */
  hardware_id_count: number;
  /** Creation time. */
  created_at: CreatedAt;
}

/** `enrollment_hardware`: the hardware ids of individual enrollments, hashed (personal data). */
export interface EnrollmentHardwareTable {
  /** Enrollment. */
  enrollment_id: string;
  /** SHA-256 (hex) of the hardware id. */
  hardware_key: string;
}

/** `identities`: one row per provisioned hardware id; the device id never changes. */
export interface IdentityTable {
  /** SHA-256 (hex) of the hardware id; unique. */
  hardware_key: string;
  /** Tenant. */
  tenant: string;
  /** Device id (`d-<ulid>`). */
  device_id: string;
  /** Device type. */
  device_type: string;
  /** Enrollment that admitted it first. */
  enrollment_id: string;
  /** Hardware model, if told. */
  hardware_model: string | null;
  /** Last known connectivity from presence. */
  online: ColumnType<boolean, boolean | undefined, boolean>;
  /** Device timestamp of the last applied presence. */
  last_presence_at: NullableTimestamp;
  /** When a `certificate.rotate` command was last sent. */
  rotate_requested_at: NullableTimestamp;
  /** When the device was decommissioned (certificates revoked). */
  decommissioned_at: NullableTimestamp;
  /** Creation time. */
  created_at: CreatedAt;
}

/** `certificates`: every certificate issued to a device. */
export interface CertificateTable {
  /** Serial, lower-case hex (as in the CRL). */
  serial: string;
  /** Tenant. */
  tenant: string;
  /** Device. */
  device_id: string;
  /** `active` (one per device), `superseded` (renewal overlap) or `revoked`. */
  status: 'active' | 'superseded' | 'revoked';
  /** Start of validity. */
  not_before: Timestamp;
  /** End of validity. */
  not_after: Timestamp;
  /** SHA-256 of the DER certificate (hex). */
  fingerprint_sha256: string;
  /** SHA-256 of the SubjectPublicKeyInfo (hex): same key → same certificate. */
  public_key_sha256: string;
  /** The certificate (PEM). */
  certificate_pem: string;
  /** The cloud's handle (AWS ARN, Azure thumbprint, local fingerprint). */
  cloud_certificate_id: string | null;
  /** When it was issued. */
  issued_at: Timestamp;
  /** When a newer one replaced it. */
  superseded_at: NullableTimestamp;
  /** When it was revoked. */
  revoked_at: NullableTimestamp;
  /** `superseded`, `decommissioned` or `requested`. */
  revocation_reason: string | null;
}

/** `request_results`: answers of provisioning and renewal requests, for retries. */
export interface RequestResultTable {
  /** `prov:<hardware_key>:<request_id>` or `renew:<device_id>:<msg_id>`. */
  request_key: string;
  /** The answer as sent. */
  response: ColumnType<unknown, string, string>;
  /** When (purged after the retention). */
  created_at: CreatedAt;
}

/** `timers`: periodic jobs shared by the replicas (`FOR UPDATE SKIP LOCKED`). */
export interface TimerTable {
  /** Job name. */
  name: string;
  /** Next due time. */
  next_run_at: Timestamp;
  /** Last completed run. */
  last_run_at: NullableTimestamp;
}

/** `crl_state`: the CRL number (monotonic, RFC 5280); its row lock orders CRL writers. */
export interface CrlStateTable {
  /** Always 1. */
  id: number;
  /** Last CRL number written. */
  crl_number: ColumnType<string, number | string, number | string>;
}

/** Every table of the schema (the outbox is written through @drover/bus). */
export interface DB {
  /** Enrollments. */
  enrollments: EnrollmentTable;
  /** Hardware ids of individual enrollments. */
  enrollment_hardware: EnrollmentHardwareTable;
  /** Provisioned identities. */
  identities: IdentityTable;
  /** Certificates. */
  certificates: CertificateTable;
  /** Idempotent answers. */
  request_results: RequestResultTable;
  /** Periodic jobs. */
  timers: TimerTable;
  /** CRL number. */
  crl_state: CrlStateTable;
}

/** A connection or a transaction: repositories accept either. */
export type Executor = Kysely<DB> | Transaction<DB>;
/** An enrollment row. */
export type EnrollmentRow = Selectable<EnrollmentTable>;
/** An identity row. */
export type IdentityRow = Selectable<IdentityTable>;
/** A certificate row. */
export type CertificateRow = Selectable<CertificateTable>;
/** A new certificate. */
export type NewCertificate = Insertable<CertificateTable>;
