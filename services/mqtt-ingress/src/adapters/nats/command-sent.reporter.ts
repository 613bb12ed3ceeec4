// After the broker's PUBACK of a command, tells the command gateway on the DEVICE stream
// (`iot.device.<t>.cmd_sent.<id>`): "sent" means the broker has it, which only the ingress sees.
// Published through the bus's JetStream pipeline (no request object per report), with the
// headers `publish()` would set (trace and correlation of the current context). With a hold
// (`COMMAND_SENT_HOLD_MS`), the ack rides on the device's answer when that comes at once.
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

/** The key of a device's command in a {@link SentHold}. */
export function sentKey(tenant: string, deviceId: string, cmdId: string): string {
  return `${tenant}/${deviceId}/${cmdId}`;
}

/**
 * Broker acks waiting a moment for their command's answer. Most devices answer within a few
 * milliseconds of the PUBACK: the answer's DEVICE message then carries the ack's `sent_at`, and
 * the `cmd_sent` report is not published at all (one JetStream message and one delivery fewer
 * per command). An ack whose answer does not come within `holdMs` (a slow device, or one whose
 * answer reached another ingress replica) is published as its own report then.
 */
export interface SentHold {
  /** Holds the report `publish` of the broker ack at `sentAt`, publishing it after the hold. */
  put(key: string, sentAt: string, publish: () => Promise<void>): void;
  /** Takes the held ack of `key` (its report will not be published); null when none is held. */
  take(key: string): string | null;
  /** Publishes every held report now (the ingress is stopping). */
  flush(): Promise<void>;
  /** Reports held (tests, diagnostics). */
  size(): number;
}

/** A hold of `holdMs` (> 0). */
export function createSentHold(holdMs: number): SentHold {
  const held = new Map<
    string,
    { sentAt: string; timer: NodeJS.Timeout; publish: () => Promise<void> }
  >();
  const release = (key: string): Promise<void> => {
    const entry = held.get(key);
    if (entry === undefined) return Promise.resolve();
    held.delete(key);
    clearTimeout(entry.timer);
    return entry.publish();
  };
  return {
    put(key, sentAt, publish) {
      // A resend's ack replaces the one held: the answer belongs to whichever came last.
      const before = held.get(key);
      if (before !== undefined) clearTimeout(before.timer);
      const timer = setTimeout(() => void release(key), holdMs);
      held.set(key, { sentAt, timer, publish });
    },
    take(key) {
      const entry = held.get(key);
      if (entry === undefined) return null;
      held.delete(key);
      clearTimeout(entry.timer);
      return entry.sentAt;
    },
    async flush() {
      await Promise.all([...held.keys()].map(release));
    },
    size: () => held.size,
  };
}

/**
 * Builds the reporter. A failed report is logged, never retried by resending the command. With
 * a `hold`, a report waits there for the command's answer (see {@link SentHold}); the headers
 * (trace, correlation) are those of the moment the broker acked.
 */
export function createCommandSentReporter(
  bus: Bus,
  naming: Naming,
  logger: Logger,
  hold?: SentHold,
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
    const headers = outgoingHeaders();
    headers.set(HEADERS.msgId, `cmd_sent:${deviceId}:${cmdId}`);
    const publish = async () => {
      try {
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
    if (hold === undefined) await publish();
    else hold.put(sentKey(tenant, deviceId, cmdId), at, publish);
  };
}
