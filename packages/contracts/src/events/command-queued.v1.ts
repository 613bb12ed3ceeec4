import { defineEvent } from './cloud-event';
import { CommandEventData } from './command-event.schema';

/** A command was accepted and stored; it waits for its device to be online. */
export const CommandQueuedV1 = defineEvent({
  aggregate: 'command',
  name: 'queued',
  version: 1,
  schema: CommandEventData,
});
