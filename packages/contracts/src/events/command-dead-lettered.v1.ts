import { defineEvent } from './cloud-event';
import { CommandEventData } from './command-event.schema';

/** The command could not be handed to the broker after the capped retries (final). */
export const CommandDeadLetteredV1 = defineEvent({
  aggregate: 'command',
  name: 'dead_lettered',
  version: 1,
  schema: CommandEventData,
});
