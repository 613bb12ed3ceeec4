// The firmware registry RPC contract (api-gateway/CLI <-> ota-orchestrator over the NATS services
// API). Requests are open (a newer caller never breaks an older orchestrator), responses closed;
// every request carries the caller's `tenant`. The image itself never travels in an RPC body: the
// gateway streams it into a JetStream Object Store bucket and names it in `upload`, or the caller
// gives a `url` the orchestrator fetches.
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { ID_PATTERN } from '../ids';
import { FirmwareVersion, HardwareModel } from '../payloads/common.schema';

/** The RPC service name (the orchestrator serves firmware and deployment operations). */
export const FIRMWARE_SERVICE = 'ota-orchestrator';

/** Operation names of the firmware registry. */
export const FirmwareOps = {
  registerFirmware: 'register_firmware',
  listFirmware: 'list_firmware',
  getFirmware: 'get_firmware',
  firmwareDownloadUrl: 'firmware_download_url',
} as const;
/** One of the firmware operation names. */
export type FirmwareOp = (typeof FirmwareOps)[keyof typeof FirmwareOps];

/**
 * The JetStream Object Store bucket the api-gateway streams uploads into, before the namespace:
 * the real bucket is `naming.stream(FIRMWARE_UPLOAD_BUCKET)` (e.g. `T_AB12_FIRMWARE_UPLOADS`).
 * The orchestrator reads only from this bucket and deletes the object once it is handled.
 */
export const FIRMWARE_UPLOAD_BUCKET = 'FIRMWARE_UPLOADS';

/** Error codes of the firmware registry (DomainError codes; REST maps them to 4xx). */
export const FirmwareErrorCodes = {
  sha256Mismatch: 'firmware_sha256_mismatch',
  sizeMismatch: 'firmware_size_mismatch',
  badSignature: 'firmware_bad_signature',
  unknownKey: 'firmware_unknown_key',
  badVersion: 'firmware_bad_version',
  exists: 'firmware_exists',
  notFound: 'firmware_not_found',
  badSigstoreBundle: 'firmware_bad_sigstore_bundle',
  uploadNotFound: 'firmware_upload_not_found',
  fetchFailed: 'firmware_fetch_failed',
  tooLarge: 'firmware_too_large',
  artifactMissing: 'firmware_artifact_missing',
} as const;
/** One of the firmware error codes. */
export type FirmwareErrorCode = (typeof FirmwareErrorCodes)[keyof typeof FirmwareErrorCodes];

/** Signature algorithms the registry verifies. */
export const FIRMWARE_SIGNATURE_ALGS = ['ed25519'] as const;
/** Largest image the registry accepts (bytes). */
export const FIRMWARE_MAX_SIZE = 2 * 1024 * 1024 * 1024;

const Id = (description: string) => Type.String({ pattern: ID_PATTERN.source, description });
const Timestamp = (description: string) => Type.String({ minLength: 1, description });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** Lower-case hex SHA-256 of the image. */
export const Sha256Hex = Type.String({
  pattern: '^[0-9a-f]{64}$',
  description: 'SHA-256 of the image, 64 lower-case hex digits',
});
/** Base64 ed25519 signature (64 bytes) over the image bytes. */
export const FirmwareSignature = Type.String({
  pattern: '^[A-Za-z0-9+/]{86}==$',
  description: 'base64 ed25519 signature over the image bytes (64 bytes)',
});
/** A key id of the trusted key ring (FIRMWARE_TRUSTED_KEYS). */
export const FirmwareKeyId = Type.String({
  pattern: '^[A-Za-z0-9_.:-]{1,128}$',
  description: 'id of the signing key in the trusted key ring',
});

/** Where the orchestrator reads the image from: a JetStream Object Store object. */
export const FirmwareUpload = Type.Object({
  bucket: Type.String({ minLength: 1, maxLength: 256, description: 'object store bucket' }),
  name: Type.String({ minLength: 1, maxLength: 1024, description: 'object name' }),
});
/** Where the orchestrator reads the image from. */
export type FirmwareUpload = Static<typeof FirmwareUpload>;

/** The declared properties of an image (REST body fields of `POST /api/v1/firmware`). */
export const FirmwareDeclaration = Type.Object({
  version: FirmwareVersion,
  device_type: Id('device type the image is for'),
  hardware_models: Type.Array(HardwareModel, {
    maxItems: 256,
    uniqueItems: true,
    description: 'hardware models the image runs on (empty: every model of the device type)',
  }),
  sha256: Sha256Hex,
  size: Type.Integer({ minimum: 1, maximum: FIRMWARE_MAX_SIZE, description: 'bytes' }),
  signature: FirmwareSignature,
  signature_alg: Type.Union(
    FIRMWARE_SIGNATURE_ALGS.map((a) => Type.Literal(a)),
    { description: 'signature algorithm' },
  ),
  key_id: FirmwareKeyId,
  sigstore_bundle: Type.Optional(
    Type.Record(Type.String(), Type.Unknown(), {
      description: 'optional Sigstore bundle (JSON) over the image',
    }),
  ),
});
/** The declared properties of an image. */
export type FirmwareDeclaration = Static<typeof FirmwareDeclaration>;

/** `register_firmware` request: the declaration plus exactly one of `upload` or `url`. */
export const RegisterFirmwareRequest = Type.Object({
  tenant: Id('the caller token tenant'),
  ...FirmwareDeclaration.properties,
  upload: Type.Optional(FirmwareUpload),
  url: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 2048,
      pattern: '^https?://',
      description: 'http(s) URL the orchestrator downloads the image from',
    }),
  ),
});
/** `register_firmware` request. */
export type RegisterFirmwareRequest = Static<typeof RegisterFirmwareRequest>;

/** A registered firmware image (immutable). */
export const Firmware = Type.Object(
  {
    firmware_id: Id('firmware id (ULID)'),
    tenant: Id('tenant'),
    version: FirmwareVersion,
    device_type: Id('device type'),
    hardware_models: Type.Array(HardwareModel),
    sha256: Sha256Hex,
    size: Type.Integer({ minimum: 1 }),
    signature: FirmwareSignature,
    signature_alg: Type.Literal('ed25519'),
    key_id: FirmwareKeyId,
    sigstore_verified: Type.Boolean({ description: 'a Sigstore bundle was verified' }),
    created_at: Timestamp('RFC 3339'),
  },
  { additionalProperties: false },
);
/** A registered firmware image. */
export type Firmware = Static<typeof Firmware>;

/** `register_firmware` response (201). */
export const RegisterFirmwareResponse = Firmware;

/** `list_firmware` request (newest first). */
export const ListFirmwareRequest = Type.Object({
  tenant: Id('tenant'),
  device_type: Type.Optional(Id('only this device type')),
  version: Type.Optional(FirmwareVersion),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
});
/** `list_firmware` request. */
export type ListFirmwareRequest = Static<typeof ListFirmwareRequest>;

/** A page of firmware. */
export const FirmwareList = Type.Object(
  { items: Type.Array(Firmware), next_cursor: Nullable(Type.String()) },
  { additionalProperties: false },
);
/** A page of firmware. */
export type FirmwareList = Static<typeof FirmwareList>;

/** `get_firmware` request. */
export const GetFirmwareRequest = Type.Object({
  tenant: Id('tenant'),
  firmware_id: Id('firmware id'),
});
/** `get_firmware` request. */
export type GetFirmwareRequest = Static<typeof GetFirmwareRequest>;

/** `firmware_download_url` request: an expiring URL for one device. */
export const FirmwareDownloadUrlRequest = Type.Object({
  tenant: Id('tenant'),
  firmware_id: Id('firmware id'),
  device_id: Id('the device the URL is for'),
  ttl_s: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 7 * 86_400, default: 3_600, description: 'lifetime' }),
  ),
});
/** `firmware_download_url` request. */
export type FirmwareDownloadUrlRequest = Static<typeof FirmwareDownloadUrlRequest>;

/** `firmware_download_url` response. */
export const FirmwareDownloadUrlResponse = Type.Object(
  {
    url: Type.String({ minLength: 1 }),
    expires_at: Timestamp('the URL stops working after this'),
  },
  { additionalProperties: false },
);
/** `firmware_download_url` response. */
export type FirmwareDownloadUrlResponse = Static<typeof FirmwareDownloadUrlResponse>;

/** Request and response schema of every firmware operation. */
export const FirmwareRpc = {
  [FirmwareOps.registerFirmware]: {
    request: RegisterFirmwareRequest,
    response: RegisterFirmwareResponse,
  },
  [FirmwareOps.listFirmware]: { request: ListFirmwareRequest, response: FirmwareList },
  [FirmwareOps.getFirmware]: { request: GetFirmwareRequest, response: Firmware },
  [FirmwareOps.firmwareDownloadUrl]: {
    request: FirmwareDownloadUrlRequest,
    response: FirmwareDownloadUrlResponse,
  },
} as const;
