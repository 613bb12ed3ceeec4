import { defineEvent } from './cloud-event';
import { CommandEventData } from './command-event.schema';

/** Withdrawn before it was handed to the broker (final; never sent); `error` says why. */
export const CommandCancelledV1 = defineEvent({
  aggregate: 'command',
  name: 'cancelled',
  version: 1,
  schema: CommandEventData,
});
