import { Type } from '@sinclair/typebox';
import { Id, JsonObject } from '../payloads/common.schema';
import { defineEvent } from './cloud-event';

/** The desired or reported state of a device changed (a new version). */
export const DeviceStateChangedV1 = defineEvent({
  aggregate: 'device',
  name: 'state_changed',
  version: 1,
  schema: Type.Object({
    device_id: Id,
    kind: Type.Union([Type.Literal('desired'), Type.Literal('reported')]),
    version: Type.Integer({ minimum: 0 }),
    state: JsonObject,
    delta: JsonObject,
  }),
});
