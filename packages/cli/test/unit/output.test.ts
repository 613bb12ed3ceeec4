import { buildUrl } from '../../src/api-client';
import { type DeviceView } from '../../src/device.types';
import { ApiError, ConnectionError, formatApiError } from '../../src/errors';
import {
  formatAttributes,
  formatTime,
  renderDevice,
  renderDeviceList,
  renderJson,
  renderTable,
} from '../../src/output';

const device: DeviceView = {
  device_id: 'd-01jabc',
  tenant: 'acme',
  device_type: 'sensor',
  hardware_model: null,
  status: 'active',
  connectivity: 'online',
  last_seen: '2026-11-26T06:01:02.345Z',
  firmware_version: '1.4.0',
  tags: ['lab', 'floor-2'],
  attributes: { room: 'b12', floor: 2, heated: true },
  certificate: { serial: '0a1b', not_after: '2027-11-26T00:00:00Z', status: 'active' },
  created_at: '2026-11-25T10:00:00Z',
  updated_at: '2026-11-26T06:01:02Z',
};

/** Table lines without borders and padding, so assertions do not depend on widths. */
function cells(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.includes('│'))
    .map((line) =>
      line
        .split('│')
        .map((c) => c.trim())
        .filter((c) => c.length > 0),
    );
}

describe('device tables', () => {
  it('lists one row per device under the headings', () => {
    const other: DeviceView = {
      ...device,
      device_id: 'd-2',
      connectivity: 'unknown',
      firmware_version: null,
      last_seen: null,
      tags: [],
    };
    const rows = cells(renderDeviceList([device, other]));
    expect(rows[0]).toEqual([
      'DEVICE ID',
      'TYPE',
      'STATUS',
      'CONNECTIVITY',
      'FIRMWARE',
      'LAST SEEN',
      'TAGS',
    ]);
    expect(rows[1]).toEqual([
      'd-01jabc',
      'sensor',
      'active',
      'online',
      '1.4.0',
      '2026-11-26 06:01:02Z',
      'lab,floor-2',
    ]);
    expect(rows[2]).toEqual(['d-2', 'sensor', 'active', 'unknown', '-', '-', '-']);
  });

  it('says so when a list is empty', () => {
    expect(renderDeviceList([])).toBe('(none)\n');
  });

  it('shows one device as key/value rows', () => {
    const rows = Object.fromEntries(cells(renderDevice(device)).map(([k, v]) => [k, v]));
    expect(rows).toMatchObject({
      device_id: 'd-01jabc',
      hardware_model: '-',
      attributes: 'room=b12 floor=2 heated=true',
      tags: 'lab, floor-2',
      certificate: '0a1b active, expires 2027-11-26 00:00:00Z',
    });
  });

  it('renders any rows with custom columns', () => {
    const text = renderTable([{ n: 1 }], [{ header: 'N', value: (r) => String(r.n) }]);
    expect(cells(text)).toEqual([['N'], ['1']]);
  });
});

describe('formatting helpers', () => {
  it('prints JSON as it came, indented', () => {
    expect(JSON.parse(renderJson({ items: [device], next_cursor: null }))).toEqual({
      items: [device],
      next_cursor: null,
    });
  });

  it('formats times and leaves unparsable ones alone', () => {
    expect(formatTime('2026-01-02T03:04:05+01:00')).toBe('2026-01-02 02:04:05Z');
    expect(formatTime(null)).toBe('-');
    expect(formatTime('soon')).toBe('soon');
  });

  it('formats attributes and their absence', () => {
    expect(formatAttributes({})).toBe('-');
    expect(formatAttributes({ a: 'x y', b: false })).toBe('a=x y b=false');
  });
});

describe('errors', () => {
  it('prints API errors as error_code: detail (correlation_id)', () => {
    const err = new ApiError(404, 'device_not_found', 'no device d1', '01JCORR');
    expect(err.message).toBe('device_not_found: no device d1 (01JCORR)');
    expect(formatApiError('internal_error', 'oops')).toBe('internal_error: oops');
  });

  it('names the URL and npm start when the API cannot be reached', () => {
    const err = new ConnectionError('http://127.0.0.1:8080', 'ECONNREFUSED');
    expect(err.message).toContain('http://127.0.0.1:8080');
    expect(err.message).toContain('is the platform running? (npm start)');
  });
});

describe('buildUrl', () => {
  it('joins base and path, skips undefined and repeats arrays', () => {
    const url = buildUrl('http://h:1/', '/api/v1/devices', {
      tag: 'lab',
      cursor: undefined,
      limit: 5,
      ids: ['a', 'b'],
    });
    expect(url.toString()).toBe('http://h:1/api/v1/devices?tag=lab&limit=5&ids=a&ids=b');
  });

  it('keeps a base path', () => {
    expect(buildUrl('http://h/drover', '/api/v1/devices/d%201').toString()).toBe(
      'http://h/drover/api/v1/devices/d%201',
    );
  });
});
