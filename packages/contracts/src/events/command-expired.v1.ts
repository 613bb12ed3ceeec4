import { defineEvent } from './cloud-event';
import { CommandEventData } from './command-event.schema';

/** `expires_at` passed before the command could be sent (final; never sent after). */
export const CommandExpiredV1 = defineEvent({
  aggregate: 'command',
  name: 'expired',
  version: 1,
  schema: CommandEventData,
});
