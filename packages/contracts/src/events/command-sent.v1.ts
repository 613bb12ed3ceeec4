import { defineEvent } from './cloud-event';
import { CommandEventData } from './command-event.schema';

/** The broker acknowledged (PUBACK) the command towards the device. */
export const CommandSentV1 = defineEvent({
  aggregate: 'command',
  name: 'sent',
  version: 1,
  schema: CommandEventData,
});
