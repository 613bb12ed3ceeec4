import { defineEvent } from './cloud-event';
import { DeploymentEventData } from './deployment-event.schema';

/** Every stage, up to 100 %, finished healthy. */
export const DeploymentCompletedV1 = defineEvent({
  aggregate: 'deployment',
  name: 'completed',
  version: 1,
  schema: DeploymentEventData,
});
