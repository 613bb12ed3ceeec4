import { defineEvent } from './cloud-event';
import { DeploymentEventData } from './deployment-event.schema';

/** An operator resumed a paused deployment. */
export const DeploymentResumedV1 = defineEvent({
  aggregate: 'deployment',
  name: 'resumed',
  version: 1,
  schema: DeploymentEventData,
});
