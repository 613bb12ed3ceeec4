import { defineEvent } from './cloud-event';
import { CommandEventData } from './command-event.schema';

/** No final result within `timeout_s` of sending (final). */
export const CommandTimedOutV1 = defineEvent({
  aggregate: 'command',
  name: 'timed_out',
  version: 1,
  schema: CommandEventData,
});
