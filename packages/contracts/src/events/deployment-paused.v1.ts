import { defineEvent } from './cloud-event';
import { DeploymentEventData } from './deployment-event.schema';

/** An operator paused the deployment: no new commands are sent. */
export const DeploymentPausedV1 = defineEvent({
  aggregate: 'deployment',
  name: 'paused',
  version: 1,
  schema: DeploymentEventData,
});
