// Durable consumer names of the registry (one constants module: no scattered strings).

/** Presence (`iot.device.*.presence.*`) on the DEVICE stream. */
export const PRESENCE_CONSUMER = 'device-registry-presence';
/** Reported state (`iot.device.*.state_reported.*`) on the DEVICE stream. */
export const STATE_REPORTED_CONSUMER = 'device-registry-state-reported';
/** `provisioning.completed` on EVENTS: provisioned devices. */
export const PROVISIONING_CONSUMER = 'device-registry-provisioning';
