// Every reject reason, table-driven: the ones contracts produce are produced by a real input;
// the ones only the ingress can know (registry lookups) at least travel in telemetry.rejected.
import {
  REJECT_REASONS,
  type InboundChannel,
  type RejectReason,
  TelemetryRejectedV1,
  createEvent,
  parseDeviceMessage,
  parseEvent,
  reject,
} from '../../src';
import { NOW, validPayloads } from './fixtures/payloads';

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const telemetry = validPayloads.TelemetryPayload;

type Case = { channel: InboundChannel | 'nope'; buf: Buffer } | 'ingress';

const cases: Record<RejectReason, Case> = {
  too_large: { channel: 'telemetry', buf: Buffer.alloc(256 * 1024 + 1, 0x20) },
  bad_encoding: { channel: 'telemetry', buf: Buffer.from('hello') },
  invalid_utf8: {
    channel: 'telemetry',
    buf: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
  },
  too_deep: {
    channel: 'state/reported',
    buf: Buffer.from(`{"state":${'['.repeat(40)}${']'.repeat(40)}}`),
  },
  bad_json: { channel: 'telemetry', buf: Buffer.from('{"metrics":') },
  bad_cbor: { channel: 'telemetry', buf: Buffer.from([0xa2, 0x61, 0x61]) },
  schema: { channel: 'telemetry', buf: json({ ...telemetry, metrics: { t: [1] } }) },
  unknown_schema_version: { channel: 'telemetry', buf: json({ ...telemetry, schema_version: 2 }) },
  bad_timestamp: { channel: 'telemetry', buf: json({ ...telemetry, ts: NOW + 3_600_000 }) },
  bad_topic: { channel: 'nope', buf: json(telemetry) },
  unknown_device: 'ingress',
  wrong_tenant: 'ingress',
  wrong_device_type: 'ingress',
  decommissioned: 'ingress',
};

describe('reject reasons', () => {
  it('the table covers every reason', () => {
    expect(Object.keys(cases).sort()).toEqual([...REJECT_REASONS].sort());
  });

  it.each(Object.entries(cases))('%s', (reason, c) => {
    if (c !== 'ingress') {
      const r = parseDeviceMessage(c.channel as InboundChannel, c.buf, { nowMs: NOW });
      expect(r).toMatchObject({ ok: false, reason });
    }
    // Whoever detects it, it must travel in telemetry.rejected.
    const event = createEvent(TelemetryRejectedV1, {
      tenant: 'acme',
      source: 'mqtt-ingress',
      data: {
        topic: 'acme/sensor/d1/telemetry',
        reason: reason as RejectReason,
        detail: 'x',
        received_at: new Date(NOW).toISOString(),
      },
    });
    expect(parseEvent(JSON.stringify(event)).ok).toBe(true);
  });

  it('truncates long details', () => {
    const r = reject('schema', 'x'.repeat(1000));
    expect(r.detail).toHaveLength(300);
    expect(r.detail.endsWith('…')).toBe(true);
    expect(reject('schema', 'short').detail).toBe('short');
  });
});
