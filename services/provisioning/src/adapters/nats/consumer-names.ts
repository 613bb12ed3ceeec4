// Durable consumer names of the provisioning service (one constants module).

/** Renewal CSRs (`iot.device.*.cert_renew.*`) on DEVICE. */
export const CERT_RENEW_CONSUMER = 'provisioning-cert-renew';
/** Presence (`iot.device.*.presence.*`) on DEVICE. */
export const PRESENCE_CONSUMER = 'provisioning-presence';
/** `device.decommissioned` on EVENTS. */
export const DECOMMISSIONED_CONSUMER = 'provisioning-decommissioned';
