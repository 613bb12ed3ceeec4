// Every event definition the platform publishes. Register new definitions here; the unit tests
// require an example for each and a section in docs/events.md.
import { type EventDefinition } from './cloud-event';
import { DeviceConnectedV1 } from './device-connected.v1';
import { DeviceDecommissionedV1 } from './device-decommissioned.v1';
import { DeviceDisconnectedV1 } from './device-disconnected.v1';
import { DeviceRegisteredV1 } from './device-registered.v1';
import { DeviceStateChangedV1 } from './device-state-changed.v1';
import { DeviceUpdatedV1 } from './device-updated.v1';
import { TelemetryRejectedV1 } from './telemetry-rejected.v1';
import { commandEventDefinitions } from './command-events';
import { ProvisioningCompletedV1 } from './provisioning-completed.v1';
import { ProvisioningFailedV1 } from './provisioning-failed.v1';
import { CertificateIssuedV1 } from './certificate-issued.v1';
import { CertificateRevokedV1 } from './certificate-revoked.v1';
import { CertificateExpiringV1 } from './certificate-expiring.v1';
import { FirmwareRegisteredV1 } from './firmware-registered.v1';
import { deploymentEventDefinitions } from './deployment-events';

/** All known event definitions. */
export const eventCatalog: readonly EventDefinition[] = Object.freeze([
  DeviceRegisteredV1,
  DeviceUpdatedV1,
  DeviceDecommissionedV1,
  DeviceStateChangedV1,
  DeviceConnectedV1,
  DeviceDisconnectedV1,
  TelemetryRejectedV1,
  ...commandEventDefinitions,
  ProvisioningCompletedV1,
  ProvisioningFailedV1,
  CertificateIssuedV1,
  CertificateRevokedV1,
  CertificateExpiringV1,
  FirmwareRegisteredV1,
  ...deploymentEventDefinitions,
]);

const byType: ReadonlyMap<string, EventDefinition> = new Map(eventCatalog.map((d) => [d.type, d]));

/** The definition for an event type, or `undefined`. */
export function findEventDefinition(type: string): EventDefinition | undefined {
  return byType.get(type);
}
