import { Type } from '@sinclair/typebox';
import { Id } from '../payloads/common.schema';
import { defineEvent } from './cloud-event';

/** A provisioning request was refused (not enrolled, bad CSR, hardware mismatch, ...). */
export const ProvisioningFailedV1 = defineEvent({
  aggregate: 'provisioning',
  name: 'failed',
  version: 1,
  schema: Type.Object({
    device_type: Id,
    hardware_id_hash: Type.String({ minLength: 1, maxLength: 128 }),
    error_code: Type.String({ minLength: 1, maxLength: 64 }),
    detail: Type.String({ maxLength: 1024 }),
  }),
});
