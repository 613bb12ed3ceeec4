// After the broker's PUBACK of a command, tells the command gateway on the DEVICE stream
// (`iot.device.<t>.cmd_sent.<id>`): "sent" means the broker has it, which only the ingress sees.
// Published through the bus's JetStream pipeline (no request object per report), with the
// headers `publish()` would set (trace and correlation of the current context).
import { type Naming, type CommandSentMessage, deviceSubject } from '@drover/contracts';
import { type Bus, HEADERS, outgoingHeaders } from '@drover/bus';
import { type Logger } from '@drover/observability';

/** Reports one acknowledged command. */
export type CommandSentReporter = (
  address: { tenant: string; deviceId: string; deviceType: string },
  payload: Uint8Array,
) => Promise<void>;

function commandId(payload: Uint8Array): string | null {
  try {
    const id = (JSON.parse(Buffer.from(payload).toString('utf8')) as { msg_id?: unknown }).msg_id;
    return typeof id === 'string' ? id : null;
  } catch (err) {
    void err; // a CBOR or malformed command has no id we can report; the gateway falls back
    return null;
  }
}

/** Builds the reporter. A failed report is logged, never retried by resending the command. */
export function createCommandSentReporter(
  bus: Bus,
  naming: Naming,
  logger: Logger,
): CommandSentReporter {
  return async ({ tenant, deviceId, deviceType }, payload) => {
    const cmdId = commandId(payload);
    if (cmdId === null) return;
    const at = new Date().toISOString();
    const body: CommandSentMessage = {
      tenant,
      device_type: deviceType,
      device_id: deviceId,
      cmd_id: cmdId,
      sent_at: at,
      received_at: at,
    };
    try {
      const headers = outgoingHeaders();
      headers.set(HEADERS.msgId, `cmd_sent:${deviceId}:${cmdId}`);
      await bus
        .pipeline()
        .publishWithHeaders(
          deviceSubject(naming, 'cmd_sent', tenant, deviceId),
          Buffer.from(JSON.stringify(body)),
          headers,
        );
    } catch (err) {
      // The command did reach the broker: nak-ing it would send it again for a missing report.
      logger.warn({ event: 'ingress.cmd_sent_failed', device_id: deviceId, err: String(err) });
    }
  };
}
