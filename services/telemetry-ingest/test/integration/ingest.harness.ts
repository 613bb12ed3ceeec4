// Feeds TELEMETRY directly (as the ingress would) and reads the telemetry schema back.
import { sql, type Kysely } from 'kysely';
import { type Bus, isTransientNatsError, publish } from '@drover/bus';
import { telemetrySubject } from '@drover/contracts';

/** One TELEMETRY message as mqtt-ingress publishes it. */
export function telemetryMessage(deviceId: string, msgId: string, ts: number, metrics = {}) {
  return {
    tenant: 'acme',
    device_type: 'sensor',
    device_id: deviceId,
    msg_id: msgId,
    ts,
    schema_version: 1,
    received_at: new Date(ts + 3).toISOString(),
    metrics,
  };
}

/**
 * Publishes one message as the ingress does: a publish whose stream ack timed out (a loaded
 * machine) is sent again with the same `Nats-Msg-Id`, which the stream stores once.
 */
async function publishRetrying(bus: Bus, subject: string, msg: unknown, msgId: string) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await publish(bus, subject, msg, { msgId });
    } catch (err) {
      if (attempt >= 5 || !isTransientNatsError(err)) throw err;
    }
  }
}

/**
 * Publishes `count` messages spread over `devices`, ids `m<i>`, `concurrency` at a time (each
 * retried after a transient failure, see {@link publishRetrying}).
 */
export async function publishTelemetry(
  bus: Bus,
  opts: { devices: number; count: number; start?: number; ts?: number; concurrency?: number },
): Promise<void> {
  const start = opts.start ?? 0;
  const concurrency = opts.concurrency ?? 200;
  const ts = opts.ts ?? Date.now();
  for (let i = start; i < start + opts.count; i += concurrency) {
    const batch = [];
    for (let k = i; k < Math.min(i + concurrency, start + opts.count); k += 1) {
      const deviceId = `d${k % opts.devices}`;
      const msg = telemetryMessage(deviceId, `m${k}`, ts + k, { v: k });
      const subject = telemetrySubject(bus.naming, 'acme', 'sensor', deviceId);
      batch.push(publishRetrying(bus, subject, msg, `${deviceId}:m${k}`));
    }
    await Promise.all(batch);
  }
}

/** Row count and distinct (device_id, msg_id) count of the telemetry table. */
export async function counts(db: Kysely<unknown>): Promise<{ rows: number; distinct: number }> {
  const r = await sql<{ rows: string; distinct: string }>`
    SELECT count(*) AS rows, count(DISTINCT (device_id, msg_id)) AS distinct FROM telemetry`.execute(
    db,
  );
  return { rows: Number(r.rows[0]?.rows), distinct: Number(r.rows[0]?.distinct) };
}
