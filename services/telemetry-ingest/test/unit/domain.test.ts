import {
  MAX_BATCH_RECORDS,
  latestPerDevice,
  toTelemetryRow,
  toTelemetryRows,
} from '../../src/domain/telemetry-record';
import {
  dayStart,
  partitionFor,
  partitionsAhead,
  partitionsToDrop,
  retentionCutoff,
} from '../../src/domain/partitions';
import {
  AGGREGATES,
  MAX_BUCKETS,
  checkBucketCount,
  decodeCursor,
  encodeCursor,
  parseBucket,
  parseRange,
} from '../../src/domain/telemetry-query';

const NOW = Date.UTC(2026, 10, 26, 12, 30);
const good = {
  tenant: 'acme',
  device_type: 'sensor',
  device_id: 'd1',
  msg_id: 'm1',
  ts: NOW,
  schema_version: 1,
  received_at: new Date(NOW + 5).toISOString(),
  metrics: { t: 1 },
};

describe('toTelemetryRows', () => {
  const second = { ...good, device_id: 'd2', msg_id: 'm2' };
  it('reads a single record', () => {
    expect(toTelemetryRows(good)).toEqual({
      rows: [expect.objectContaining({ deviceId: 'd1', msgId: 'm1' })],
      errors: [],
    });
    expect(toTelemetryRows({ ...good, tenant: 'a.b' })).toEqual({
      rows: [],
      errors: ['bad tenant'],
    });
    expect(toTelemetryRows(null)).toEqual({ rows: [], errors: ['not an object'] });
    expect(toTelemetryRows([good])).toEqual({ rows: [], errors: ['not an object'] });
  });
  it('reads a batch, keeping the good records and naming the bad ones', () => {
    expect(toTelemetryRows({ batch: [good, second] }).rows.map((r) => r.deviceId)).toEqual([
      'd1',
      'd2',
    ]);
    const mixed = toTelemetryRows({ batch: [good, { ...good, msg_id: '' }, second] });
    expect(mixed.rows.map((r) => r.msgId)).toEqual(['m1', 'm2']);
    expect(mixed.errors).toEqual(['batch[1]: bad msg_id']);
  });
  it.each([
    ['not an array', { batch: 'x' }],
    ['empty', { batch: [] }],
    ['too long', { batch: Array.from({ length: MAX_BATCH_RECORDS + 1 }, () => good) }],
  ])('refuses a batch that is %s', (_what, value) => {
    expect(toTelemetryRows(value)).toEqual({
      rows: [],
      errors: [`batch must be an array of 1 to ${MAX_BATCH_RECORDS} records`],
    });
  });
});

describe('toTelemetryRow', () => {
  it('maps a bus message to a row', () => {
    expect(toTelemetryRow(good)).toEqual({
      row: {
        tenant: 'acme',
        deviceType: 'sensor',
        deviceId: 'd1',
        msgId: 'm1',
        ts: NOW,
        receivedAt: NOW + 5,
        metricsJson: '{"t":1}',
      },
    });
    expect(toTelemetryRow({ ...good, ts: new Date(NOW).toISOString() })).toMatchObject({
      row: { ts: NOW },
    });
  });
  it.each([
    ['not an object', null],
    ['not an object', [1]],
    ['bad tenant', { ...good, tenant: 'a.b' }],
    ['bad device_id', { ...good, device_id: 3 }],
    ['bad msg_id', { ...good, msg_id: '' }],
    ['bad msg_id', { ...good, msg_id: 7 }],
    ['bad ts or received_at', { ...good, ts: 1.5 }],
    ['bad ts or received_at', { ...good, ts: -1 }],
    ['bad ts or received_at', { ...good, received_at: 'yesterday' }],
    ['bad metrics', { ...good, metrics: [] }],
    ['bad metrics', { ...good, metrics: null }],
  ])('refuses %s', (error, value) => {
    expect(toTelemetryRow(value)).toEqual({ error });
  });
});

describe('latestPerDevice', () => {
  it('keeps the newest row per tenant and device', () => {
    const row = (deviceId: string, ts: number) => {
      const r = toTelemetryRow({ ...good, device_id: deviceId, ts });
      if (!('row' in r)) throw new Error(r.error);
      return r.row;
    };
    const rows = [row('a', NOW), row('a', NOW + 2), row('a', NOW + 1), row('b', NOW)];
    expect(
      latestPerDevice(rows).map((r: { deviceId: string; ts: number }) => [r.deviceId, r.ts]),
    ).toEqual([
      ['a', NOW + 2],
      ['b', NOW],
    ]);
  });
});

describe('partitions', () => {
  it('names and bounds day partitions in UTC', () => {
    expect(partitionFor(NOW)).toEqual({
      name: 'telemetry_p20261126',
      from: '2026-11-26T00:00:00.000Z',
      to: '2026-11-27T00:00:00.000Z',
      startMs: dayStart(NOW),
    });
    expect(partitionsAhead(NOW, 2).map((p) => p.name)).toEqual([
      'telemetry_p20261126',
      'telemetry_p20261127',
      'telemetry_p20261128',
    ]);
  });
  it('drops only whole days before the retention cutoff', () => {
    expect(retentionCutoff(NOW, 1)).toBe(Date.UTC(2026, 10, 25));
    const names = ['telemetry_p20261124', 'telemetry_p20261125', 'telemetry_p20261126', 'other'];
    expect(partitionsToDrop(names, NOW, 1)).toEqual(['telemetry_p20261124']);
  });
});

describe('telemetry queries', () => {
  it('parses buckets', () => {
    expect(AGGREGATES).toContain('last');
    expect(MAX_BUCKETS).toBe(10_000);
    expect(parseBucket('30s')).toBe(30);
    expect(parseBucket('1m')).toBe(60);
    expect(parseBucket('2h')).toBe(7200);
    expect(parseBucket('1d')).toBe(86400);
    expect(parseBucket('0m')).toBeNull();
    expect(parseBucket('1w')).toBeNull();
  });
  it('checks ranges and bucket counts', () => {
    expect(parseRange('x', '2026-11-26T00:00:00Z')).toMatch(/RFC 3339/);
    expect(parseRange('2026-11-26T01:00:00Z', '2026-11-26T00:00:00Z')).toMatch(/after/);
    const r = parseRange('2026-11-26T00:00:00Z', '2026-11-27T00:00:00Z');
    expect(r).toEqual({ fromMs: Date.UTC(2026, 10, 26), toMs: Date.UTC(2026, 10, 27) });
    expect(checkBucketCount(r as never, 60)).toBeNull();
    expect(checkBucketCount(r as never, 1)).toMatch(/more than/);
  });
  it('round-trips cursors and refuses forged ones', () => {
    const c = { ts: '2026-11-26T00:00:00.000001Z', msgId: 'm1' };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    expect(decodeCursor('!!!')).toBeNull();
    expect(decodeCursor(Buffer.from('{"a":1}').toString('base64url'))).toBeNull();
    expect(decodeCursor(Buffer.from('[1,"m"]').toString('base64url'))).toBeNull();
    expect(decodeCursor(Buffer.from('["nope","m"]').toString('base64url'))).toBeNull();
  });
});
