import { defineEvent } from './cloud-event';
import { CommandEventData } from './command-event.schema';

/** The device answered `succeeded` (final). */
export const CommandSucceededV1 = defineEvent({
  aggregate: 'command',
  name: 'succeeded',
  version: 1,
  schema: CommandEventData,
});
