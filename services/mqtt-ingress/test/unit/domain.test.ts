import { encode } from 'cbor-x';
import fc from 'fast-check';
import { checkDevice, type DeviceMeta } from '../../src/domain/device-check';
import { jitteredBackoffMs } from '../../src/domain/backoff';
import { createTokenBucket } from '../../src/domain/rate-limit';
import { parseIngressTopic, routeMessage } from '../../src/domain/message-router';

const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);
const limits = { maxBytes: 262144, maxFutureSkewMs: 300000, maxAgeMs: 7 * 86400000 };
const meta: DeviceMeta = { deviceId: 'd1', tenant: 'acme', deviceType: 'sensor', status: 'active' };
const topicOf = (channel: string) => parseIngressTopic(`acme/sensor/d1/${channel}`, '')!;
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe('checkDevice', () => {
  const topic = topicOf('telemetry');
  it('refuses unknown, foreign, mistyped and decommissioned devices', () => {
    expect(checkDevice(topic, null)).toBe('unknown_device');
    expect(checkDevice(topic, { ...meta, tenant: 'other' })).toBe('wrong_tenant');
    expect(checkDevice(topic, { ...meta, deviceType: 'pump' })).toBe('wrong_device_type');
    expect(checkDevice(topic, { ...meta, status: 'decommissioned' })).toBe('decommissioned');
    expect(checkDevice(topic, meta)).toBeNull();
  });
});

describe('jitteredBackoffMs and createTokenBucket', () => {
  it('grows to the cap with full jitter', () => {
    expect(jitteredBackoffMs(0, 100, 5000, () => 0.999)).toBe(99);
    expect(jitteredBackoffMs(10, 100, 5000, () => 0.5)).toBe(2500);
    expect(jitteredBackoffMs(3, 100, 5000)).toBeLessThan(800);
  });
  it('spends and refills its budget', () => {
    let t = 0;
    const bucket = createTokenBucket(2, () => t);
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
    t = 500;
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
    expect(createTokenBucket(1).take()).toBe(true);
  });
});

describe('parseIngressTopic', () => {
  it('accepts device channels only, with exactly the prefix', () => {
    expect(parseIngressTopic('acme/sensor/d1/telemetry', '')?.deviceId).toBe('d1');
    expect(parseIngressTopic('t1/acme/sensor/d1/status', 't1')?.channel).toBe('status');
    expect(parseIngressTopic('acme/sensor/d1/cmd', '')).toBeNull();
    expect(parseIngressTopic('acme/sensor/d.1/telemetry', '')).toBeNull();
    expect(parseIngressTopic('acme/sensor/d1/telemetry', 't1')).toBeNull();
  });
});

describe('routeMessage', () => {
  it('turns telemetry into a TELEMETRY record with dedup id <device>:<msg>', () => {
    const body = { msg_id: 'm1', ts: NOW - 1000, schema_version: 1, metrics: { t: 21.5 } };
    const route = routeMessage(topicOf('telemetry'), meta, json(body), limits, NOW);
    expect(route).toEqual({
      kind: 'telemetry',
      msgId: 'd1:m1',
      record: {
        tenant: 'acme',
        device_type: 'sensor',
        device_id: 'd1',
        msg_id: 'm1',
        ts: NOW - 1000,
        schema_version: 1,
        received_at: new Date(NOW).toISOString(),
        metrics: { t: 21.5 },
      },
    });
  });

  it('accepts CBOR with an RFC 3339 time', () => {
    const ts = new Date(NOW - 5000).toISOString();
    const body = encode({ msg_id: 'm2', ts, schema_version: 1, metrics: { on: true } });
    const route = routeMessage(topicOf('telemetry'), meta, body, limits, NOW);
    expect(route.kind === 'telemetry' && route.record.ts).toBe(NOW - 5000);
  });

  it('routes status, including the bare last will, to presence', () => {
    const will = routeMessage(topicOf('status'), meta, json({ state: 'offline' }), limits, NOW);
    expect(will).toMatchObject({
      kind: 'device',
      subjectKind: 'presence',
      msgId: `presence:d1:will-${NOW}`,
      message: { state: 'offline', device_id: 'd1', ts: new Date(NOW).toISOString() },
    });
    const online = {
      msg_id: 's1',
      ts: NOW,
      schema_version: 1,
      state: 'online',
      firmware_version: '1.0.0',
    };
    const route = routeMessage(topicOf('status'), meta, json(online), limits, NOW);
    expect(route).toMatchObject({ kind: 'device', msgId: 'presence:d1:s1' });
  });

  it.each([
    ['cmd/res', 'cmd_res', { cmd_id: 'c1', status: 'succeeded' }],
    [
      'update_status',
      'update_status',
      { deployment_id: 'dep1', firmware_version: '2.0.0', state: 'installing' },
    ],
    ['state/reported', 'state_reported', { state: { a: 1 } }],
  ])('routes %s to the DEVICE subject %s', (channel, kind, extra) => {
    const body = { msg_id: 'x1', ts: NOW, schema_version: 1, ...extra };
    const route = routeMessage(topicOf(channel), meta, json(body), limits, NOW);
    expect(route).toMatchObject({ kind: 'device', subjectKind: kind, tenant: 'acme' });
  });

  it('rejects with the reason of the registry check or of the decoder', () => {
    const ok = json({ msg_id: 'm', ts: NOW, schema_version: 1, metrics: {} });
    expect(routeMessage(topicOf('telemetry'), null, ok, limits, NOW)).toMatchObject({
      kind: 'reject',
      reason: 'unknown_device',
    });
    const v2 = json({ msg_id: 'm', ts: NOW, schema_version: 2, metrics: {} });
    expect(routeMessage(topicOf('telemetry'), meta, v2, limits, NOW)).toMatchObject({
      reason: 'unknown_schema_version',
    });
    const big = Buffer.alloc(300 * 1024, 0x20);
    expect(routeMessage(topicOf('telemetry'), meta, big, limits, NOW)).toMatchObject({
      reason: 'too_large',
    });
  });

  it('never throws, whatever the topic and payload (the handler boundary)', () => {
    const level = fc.oneof(
      fc.constantFrom('acme', 'sensor', 'd1', 'telemetry', 'status'),
      fc.string(),
    );
    fc.assert(
      fc.property(
        fc.array(level, { minLength: 0, maxLength: 7 }),
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }),
          fc.jsonValue().map((v) => json(v)),
          fc.anything().map((v) => {
            try {
              return Buffer.from(encode(v));
            } catch (err) {
              void err;
              return Buffer.alloc(0);
            }
          }),
        ),
        fc.constantFrom(undefined, 'application/json', 'application/cbor', 'text/plain'),
        (levels, payload, contentType) => {
          const topic = parseIngressTopic(levels.join('/'), '');
          if (topic === null) return;
          const route = routeMessage(topic, meta, payload, limits, NOW, contentType);
          expect(['telemetry', 'device', 'reject']).toContain(route.kind);
        },
      ),
      { numRuns: 500 },
    );
  });
});
