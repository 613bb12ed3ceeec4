// Builders of the deployment.* events (validated strictly by createEvent).
import {
  type CloudEvent,
  createEvent,
  type DeploymentDeviceEventData,
  DeploymentDeviceUpdatedV1,
  type DeploymentEventData,
  type EventDefinition,
} from '@drover/contracts';
import { type TObject } from '@sinclair/typebox';
import { SERVICE_NAME } from '../service/ota.context';

/** The deployment fields every transition event repeats. */
export interface DeploymentHead {
  tenant: string;
  deployment_id: string;
  firmware_version: string;
  device_type: string;
}

/** A deployment transition event. */
export function deploymentEvent(
  def: EventDefinition<TObject>,
  head: DeploymentHead,
  data: Omit<DeploymentEventData, 'deployment_id' | 'firmware_version' | 'device_type'>,
): CloudEvent<unknown> {
  return createEvent(def, {
    tenant: head.tenant,
    source: SERVICE_NAME,
    subject: head.deployment_id,
    time: data.at,
    data: {
      deployment_id: head.deployment_id,
      firmware_version: head.firmware_version,
      device_type: head.device_type,
      ...data,
    },
  });
}

/** A device progress event. */
export function deviceEvent(tenant: string, data: DeploymentDeviceEventData): CloudEvent<unknown> {
  return createEvent(DeploymentDeviceUpdatedV1, {
    tenant,
    source: SERVICE_NAME,
    subject: data.device_id,
    time: data.at,
    data,
  });
}
