import {
  DEFAULT_MAX_AGE_MS,
  DEFAULT_MAX_FUTURE_SKEW_MS,
  type InboundChannel,
  inboundCheckers,
  parseDeviceMessage,
} from '../../src';
import { Encoder } from 'cbor-x';
import { NOW, validPayloads } from './fixtures/payloads';

const encoder = new Encoder({ useRecords: false });
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const at = { nowMs: NOW };

const examples: Record<InboundChannel, Record<string, unknown>> = {
  telemetry: validPayloads.TelemetryPayload,
  status: validPayloads.StatusPayload,
  'cmd/res': validPayloads.CommandResultPayload,
  update_status: validPayloads.UpdateStatusPayload,
  'state/reported': validPayloads.StateReportedPayload,
  'cert/renew': validPayloads.CertRenewPayload,
  'provisioning/req': validPayloads.ProvisioningRequest,
};

describe('parseDeviceMessage', () => {
  it('covers every inbound channel', () => {
    expect(Object.keys(examples).sort()).toEqual(Object.keys(inboundCheckers).sort());
  });

  it.each(Object.entries(examples))('accepts %s in JSON and CBOR', (channel, payload) => {
    for (const [buf, encoding] of [
      [json(payload), 'json'],
      [encoder.encode(payload), 'cbor'],
    ] as const) {
      const r = parseDeviceMessage(channel as InboundChannel, buf, at);
      expect(r).toEqual({ ok: true, channel, payload, tsMs: NOW, encoding });
    }
  });

  it('refuses a payload valid on another channel', () => {
    const r = parseDeviceMessage('status', json(validPayloads.TelemetryPayload), at);
    expect(r).toMatchObject({ ok: false, reason: 'schema' });
  });

  it('gives the first schema error with its path', () => {
    const r = parseDeviceMessage(
      'telemetry',
      json({ ...validPayloads.TelemetryPayload, metrics: { 'bad key': 1 } }),
      at,
    );
    expect(r).toMatchObject({
      ok: false,
      reason: 'schema',
      detail: expect.stringMatching(/^\/metrics\/bad key: /),
    });
  });

  it('accepts the last will without msg_id or ts, timed at receipt', () => {
    const r = parseDeviceMessage('status', json({ state: 'offline' }), at);
    expect(r).toEqual({
      ok: true,
      channel: 'status',
      payload: { state: 'offline' },
      tsMs: NOW,
      encoding: 'json',
    });
  });

  it.each([2, 0, -1, 99])('refuses schema_version %i as unknown_schema_version', (v) => {
    const r = parseDeviceMessage(
      'telemetry',
      json({ ...validPayloads.TelemetryPayload, schema_version: v, new_field: 1 }),
      at,
    );
    expect(r).toMatchObject({
      ok: false,
      reason: 'unknown_schema_version',
      detail: expect.stringContaining(String(v)),
    });
  });

  it.each([['"1"'], ['1.5'], ['null']])('refuses schema_version %s as schema', (v) => {
    const text = `{"msg_id":"m","ts":${NOW},"schema_version":${v},"metrics":{}}`;
    expect(parseDeviceMessage('telemetry', Buffer.from(text), at)).toMatchObject({
      ok: false,
      reason: 'schema',
    });
  });

  it.each([
    ['RFC 3339 Z', '2025-06-01T12:00:00Z', NOW],
    ['RFC 3339 with millis', '2025-06-01T12:00:00.250Z', NOW + 250],
    ['RFC 3339 with micros', '2025-06-01T12:00:00.250999Z', NOW + 250],
    ['RFC 3339 with offset', '2025-06-01T14:00:00+02:00', NOW],
    ['RFC 3339 negative offset', '2025-06-01T11:30:00-00:30', NOW],
    ['lower case', '2025-06-01t12:00:00z', NOW],
    ['epoch ms', NOW - 1000, NOW - 1000],
    ['at the future bound', NOW + DEFAULT_MAX_FUTURE_SKEW_MS, NOW + DEFAULT_MAX_FUTURE_SKEW_MS],
    ['at the age bound', NOW - DEFAULT_MAX_AGE_MS, NOW - DEFAULT_MAX_AGE_MS],
  ])('normalizes ts (%s)', (_why, ts, expected) => {
    const r = parseDeviceMessage('telemetry', json({ ...validPayloads.TelemetryPayload, ts }), at);
    expect(r).toMatchObject({ ok: true, tsMs: expected });
  });

  it.each([
    ['too far ahead', NOW + DEFAULT_MAX_FUTURE_SKEW_MS + 1, /future/],
    ['too old', NOW - DEFAULT_MAX_AGE_MS - 1, /old/],
    ['epoch seconds', Math.floor(NOW / 1000), /epoch seconds/],
    ['not a date', 'yesterday', /RFC 3339/],
    ['date only', '2025-06-01', /RFC 3339/],
    ['no zone', '2025-06-01T12:00:00', /RFC 3339/],
    ['month 13', '2025-13-01T12:00:00Z', /RFC 3339/],
    ['Feb 30', '2025-02-30T12:00:00Z', /RFC 3339/],
    ['hour 24', '2025-06-01T24:00:00Z', /RFC 3339/],
    ['negative epoch', -1, /old/],
    ['huge epoch', Number.MAX_SAFE_INTEGER, /future/],
  ])('refuses ts %s as bad_timestamp', (_why, ts, detail) => {
    const r = parseDeviceMessage('telemetry', json({ ...validPayloads.TelemetryPayload, ts }), at);
    expect(r).toMatchObject({
      ok: false,
      reason: 'bad_timestamp',
      detail: expect.stringMatching(detail),
    });
  });

  it('applies configured bounds', () => {
    const payload = json({ ...validPayloads.TelemetryPayload, ts: NOW - 60_000 });
    expect(parseDeviceMessage('telemetry', payload, { ...at, maxAgeMs: 59_999 })).toMatchObject({
      ok: false,
      reason: 'bad_timestamp',
    });
    const ahead = json({ ...validPayloads.TelemetryPayload, ts: NOW + 1000 });
    expect(parseDeviceMessage('telemetry', ahead, { ...at, maxFutureSkewMs: 0 })).toMatchObject({
      ok: false,
      reason: 'bad_timestamp',
    });
    expect(parseDeviceMessage('telemetry', ahead, { ...at, maxFutureSkewMs: 1000 })).toMatchObject({
      ok: true,
    });
  });

  it('uses the clock when nowMs is not given', () => {
    const r = parseDeviceMessage(
      'telemetry',
      json({ ...validPayloads.TelemetryPayload, ts: Date.now() }),
    );
    expect(r.ok).toBe(true);
  });

  it('passes decode rejections through, with decode options', () => {
    expect(parseDeviceMessage('telemetry', Buffer.from('x'), at)).toMatchObject({
      reason: 'bad_encoding',
    });
    expect(
      parseDeviceMessage('telemetry', json(validPayloads.TelemetryPayload), {
        ...at,
        maxBytes: 10,
      }),
    ).toMatchObject({
      reason: 'too_large',
    });
    expect(
      parseDeviceMessage('telemetry', json(validPayloads.TelemetryPayload), {
        ...at,
        contentType: 'application/cbor',
      }),
    ).toMatchObject({ reason: 'bad_cbor' });
  });

  it.each(['cmd', 'nope', '__proto__', 'toString'])(
    'refuses channel %s as bad_topic',
    (channel) => {
      const r = parseDeviceMessage(
        channel as InboundChannel,
        json(validPayloads.TelemetryPayload),
        at,
      );
      expect(r).toMatchObject({ ok: false, reason: 'bad_topic' });
    },
  );

  it('is fast enough for the telemetry hot path', () => {
    const payload = {
      ...validPayloads.TelemetryPayload,
      metrics: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`metric_${i}`, i * 1.5])),
    };
    const bufs = [json(payload), encoder.encode(payload)];
    const n = 20_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const r = parseDeviceMessage('telemetry', bufs[i % 2]!, at);
      if (!r.ok) throw new Error(r.detail);
    }
    const perSecond = n / (Number(process.hrtime.bigint() - start) / 1e9);
    // A floor for regressions like compiling schemas per call (~100/s), low enough for a loaded
    // 2-core CI under Jest's sandbox; plain node does ~90k JSON / ~200k CBOR per second here.
    expect(perSecond).toBeGreaterThan(2_000);
  });
});
