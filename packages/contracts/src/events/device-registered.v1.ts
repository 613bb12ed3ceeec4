import { Type } from '@sinclair/typebox';
import { Attributes, DateTime, HardwareModel, Id, Tags } from '../payloads/common.schema';
import { defineEvent } from './cloud-event';

/** A device was created in the registry (by hand or by provisioning). */
export const DeviceRegisteredV1 = defineEvent({
  aggregate: 'device',
  name: 'registered',
  version: 1,
  schema: Type.Object({
    device_id: Id,
    tenant: Id,
    device_type: Id,
    // The hardware id may be personal data: events carry only its hash.
    hardware_id_hash: Type.String({ minLength: 1, maxLength: 128 }),
    hardware_model: Type.Optional(Type.Union([HardwareModel, Type.Null()])),
    tags: Tags,
    attributes: Attributes,
    registered_at: DateTime,
  }),
});
