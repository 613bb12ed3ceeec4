import { defineEvent } from './cloud-event';
import { CommandEventData } from './command-event.schema';

/** The device refused the command (final). */
export const CommandRejectedV1 = defineEvent({
  aggregate: 'command',
  name: 'rejected',
  version: 1,
  schema: CommandEventData,
});
