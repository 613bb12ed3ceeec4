import { defineEvent } from './cloud-event';
import { DeploymentEventData } from './deployment-event.schema';

/** A stage finished its soak healthy. */
export const DeploymentStageCompletedV1 = defineEvent({
  aggregate: 'deployment',
  name: 'stage_completed',
  version: 1,
  schema: DeploymentEventData,
});
