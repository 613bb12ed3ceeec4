import { defineEvent } from './cloud-event';
import { CommandEventData } from './command-event.schema';

/** The device answered `accepted`: it is working on the command. */
export const CommandAcceptedV1 = defineEvent({
  aggregate: 'command',
  name: 'accepted',
  version: 1,
  schema: CommandEventData,
});
