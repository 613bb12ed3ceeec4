import { defineEvent } from './cloud-event';
import { DeploymentEventData } from './deployment-event.schema';

/** The health gate (or an operator) started a rollback. */
export const DeploymentRollingBackV1 = defineEvent({
  aggregate: 'deployment',
  name: 'rolling_back',
  version: 1,
  schema: DeploymentEventData,
});
