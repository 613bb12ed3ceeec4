import { defineEvent } from './cloud-event';
import { DeploymentEventData } from './deployment-event.schema';

/** An operator aborted the deployment: nothing more is sent, devices are left as they are. */
export const DeploymentAbortedV1 = defineEvent({
  aggregate: 'deployment',
  name: 'aborted',
  version: 1,
  schema: DeploymentEventData,
});
