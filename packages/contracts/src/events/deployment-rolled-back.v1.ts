import { defineEvent } from './cloud-event';
import { DeploymentEventData } from './deployment-event.schema';

/** Every device that received the update was told to roll back and finished. */
export const DeploymentRolledBackV1 = defineEvent({
  aggregate: 'deployment',
  name: 'rolled_back',
  version: 1,
  schema: DeploymentEventData,
});
