// Durable consumer names of the gateway (one constants module: no scattered strings).

/** Device answers (`iot.device.*.cmd_res.*`) on DEVICE. */
export const RESULTS_CONSUMER = 'command-gateway-results';
/** Broker acks reported by the ingress (`iot.device.*.cmd_sent.*`) on DEVICE. */
export const SENT_CONSUMER = 'command-gateway-sent';
/** Presence (`iot.device.*.presence.*`) on DEVICE. */
export const PRESENCE_CONSUMER = 'command-gateway-presence';
/** The ingress's dead letters of commands on DLQ. */
export const DLQ_CONSUMER = 'command-gateway-dlq';
/** The ingress's durable on COMMANDS (its DLQ records name it). */
export const INGRESS_COMMANDS_DURABLE = 'mqtt-ingress-commands';
/** The registry's `device.decommissioned` events on EVENTS. */
export const DECOMMISSIONED_CONSUMER = 'command-gateway-decommissioned';
