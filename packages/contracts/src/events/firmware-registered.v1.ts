import { Type } from '@sinclair/typebox';
import { DateTime, FirmwareVersion, HardwareModel, Id } from '../payloads/common.schema';
import { defineEvent } from './cloud-event';

/** A firmware image passed every check and was registered (immutable from now on). */
export const FirmwareRegisteredV1 = defineEvent({
  aggregate: 'firmware',
  name: 'registered',
  version: 1,
  schema: Type.Object({
    firmware_id: Id,
    version: FirmwareVersion,
    device_type: Id,
    hardware_models: Type.Array(HardwareModel, { maxItems: 256 }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    size: Type.Integer({ minimum: 1 }),
    signature_alg: Type.Literal('ed25519'),
    key_id: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' }),
    sigstore_verified: Type.Boolean(),
    registered_at: DateTime,
  }),
});
