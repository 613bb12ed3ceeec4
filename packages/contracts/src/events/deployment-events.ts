// The `deployment.*` events (one definition file each) gathered for the catalog and the index.
import { type EventDefinition } from './cloud-event';
import { DeploymentCreatedV1 } from './deployment-created.v1';
import { DeploymentStageStartedV1 } from './deployment-stage-started.v1';
import { DeploymentStageCompletedV1 } from './deployment-stage-completed.v1';
import { DeploymentPausedV1 } from './deployment-paused.v1';
import { DeploymentResumedV1 } from './deployment-resumed.v1';
import { DeploymentRollingBackV1 } from './deployment-rolling-back.v1';
import { DeploymentRolledBackV1 } from './deployment-rolled-back.v1';
import { DeploymentCompletedV1 } from './deployment-completed.v1';
import { DeploymentAbortedV1 } from './deployment-aborted.v1';
import { DeploymentDeviceUpdatedV1 } from './deployment-device-updated.v1';

export * from './deployment-event.schema';
export {
  DeploymentCreatedV1,
  DeploymentStageStartedV1,
  DeploymentStageCompletedV1,
  DeploymentPausedV1,
  DeploymentResumedV1,
  DeploymentRollingBackV1,
  DeploymentRolledBackV1,
  DeploymentCompletedV1,
  DeploymentAbortedV1,
  DeploymentDeviceUpdatedV1,
};

/** Every deployment event definition, in lifecycle order. */
export const deploymentEventDefinitions: readonly EventDefinition[] = [
  DeploymentCreatedV1,
  DeploymentStageStartedV1,
  DeploymentStageCompletedV1,
  DeploymentPausedV1,
  DeploymentResumedV1,
  DeploymentRollingBackV1,
  DeploymentRolledBackV1,
  DeploymentCompletedV1,
  DeploymentAbortedV1,
  DeploymentDeviceUpdatedV1,
];
