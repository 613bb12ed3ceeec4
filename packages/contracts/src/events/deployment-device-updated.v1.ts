import { defineEvent } from './cloud-event';
import { DeploymentDeviceEventData } from './deployment-event.schema';

/** A device of a deployment reached a new state (updating, succeeded, failed, offline, ...). */
export const DeploymentDeviceUpdatedV1 = defineEvent({
  aggregate: 'deployment',
  name: 'device_updated',
  version: 1,
  schema: DeploymentDeviceEventData,
});
