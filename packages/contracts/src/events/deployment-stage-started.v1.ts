import { defineEvent } from './cloud-event';
import { DeploymentEventData } from './deployment-event.schema';

/** A stage began: its devices are being sent `firmware.update`. */
export const DeploymentStageStartedV1 = defineEvent({
  aggregate: 'deployment',
  name: 'stage_started',
  version: 1,
  schema: DeploymentEventData,
});
