// @drover/contracts: ids, names, subjects, topics, payload schemas and events. No I/O.
export * from './ids';
export * from './naming';
export * from './subjects';
export * from './topics';

export * from './payloads/checker';
export * from './payloads/common.schema';
export * from './payloads/device.schema';
export * from './payloads/platform.schema';
export * from './payloads/checkers';
export * from './payloads/bus-messages.schema';

export * from './decode/reject-reason';
export * from './decode/timestamp';
export * from './decode/decode-payload';
export * from './decode/parse-device-message';

export * from './events/cloud-event';
export * from './events/catalog';
export * from './events/parse-event';
export * from './events/event-subject';
export * from './events/device-registered.v1';
export * from './events/device-updated.v1';
export * from './events/device-decommissioned.v1';
export * from './events/device-state-changed.v1';
export * from './events/device-connected.v1';
export * from './events/device-disconnected.v1';
export * from './events/telemetry-rejected.v1';
export * from './events/command-events';
export * from './events/certificate-summary.schema';
export * from './events/provisioning-completed.v1';
export * from './events/provisioning-failed.v1';
export * from './events/certificate-issued.v1';
export * from './events/certificate-revoked.v1';
export * from './events/certificate-expiring.v1';
export * from './events/firmware-registered.v1';
export * from './events/deployment-events';

export * from './rpc/device-registry.rpc';
export * from './rpc/command-gateway.rpc';
export * from './rpc/provisioning.rpc';
export * from './rpc/telemetry.rpc';
export * from './rpc/firmware.rpc';
export * from './rpc/deployment.rpc';
