import { defineEvent } from './cloud-event';
import { CommandEventData } from './command-event.schema';

/** The device answered `failed` (final). */
export const CommandFailedV1 = defineEvent({
  aggregate: 'command',
  name: 'failed',
  version: 1,
  schema: CommandEventData,
});
