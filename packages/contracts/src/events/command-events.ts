// The `command.*` events (one definition file each) gathered for the catalog and the index.
import { type EventDefinition } from './cloud-event';
import { CommandAcceptedV1 } from './command-accepted.v1';
import { CommandCancelledV1 } from './command-cancelled.v1';
import { CommandDeadLetteredV1 } from './command-dead-lettered.v1';
import { CommandExpiredV1 } from './command-expired.v1';
import { CommandFailedV1 } from './command-failed.v1';
import { CommandQueuedV1 } from './command-queued.v1';
import { CommandRejectedV1 } from './command-rejected.v1';
import { CommandSentV1 } from './command-sent.v1';
import { CommandSucceededV1 } from './command-succeeded.v1';
import { CommandTimedOutV1 } from './command-timed-out.v1';

export * from './command-event.schema';
export {
  CommandAcceptedV1,
  CommandCancelledV1,
  CommandDeadLetteredV1,
  CommandExpiredV1,
  CommandFailedV1,
  CommandQueuedV1,
  CommandRejectedV1,
  CommandSentV1,
  CommandSucceededV1,
  CommandTimedOutV1,
};

/** Every command event definition, in lifecycle order. */
export const commandEventDefinitions: readonly EventDefinition[] = [
  CommandQueuedV1,
  CommandSentV1,
  CommandAcceptedV1,
  CommandSucceededV1,
  CommandFailedV1,
  CommandRejectedV1,
  CommandTimedOutV1,
  CommandExpiredV1,
  CommandDeadLetteredV1,
  CommandCancelledV1,
];
