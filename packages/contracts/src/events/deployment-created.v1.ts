import { defineEvent } from './cloud-event';
import { DeploymentEventData } from './deployment-event.schema';

/** A deployment was accepted: firmware re-verified, target resolved and planned. */
export const DeploymentCreatedV1 = defineEvent({
  aggregate: 'deployment',
  name: 'created',
  version: 1,
  schema: DeploymentEventData,
});
