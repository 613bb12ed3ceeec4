import { STREAM_NAMES, namespace } from '../../src';

describe('namespace', () => {
  it.each([
    [undefined, 'iot.evt.acme.device.registered', 'EVENTS', 'drover:device:acme:d1'],
    ['', 'iot.evt.acme.device.registered', 'EVENTS', 'drover:device:acme:d1'],
    [
      't_ab12',
      't_ab12.iot.evt.acme.device.registered',
      'T_AB12_EVENTS',
      't_ab12:drover:device:acme:d1',
    ],
  ])('ns %j', (ns, subject, stream, key) => {
    const n = namespace(ns);
    expect(n.ns).toBe(ns ?? '');
    expect(n.subject('iot.evt.acme.device.registered')).toBe(subject);
    expect(n.stream('EVENTS')).toBe(stream);
    expect(n.redisKey('device', 'acme', 'd1')).toBe(key);
  });

  it.each(['T_ab', '1abc', 'a-b', 'a.b', 'a'.repeat(32), ' a', 'a b', '_a'])(
    'refuses namespace %j',
    (ns) => {
      expect(() => namespace(ns)).toThrow(/invalid namespace/);
    },
  );

  it('accepts the longest namespace', () => {
    expect(namespace('a'.repeat(31)).ns).toHaveLength(31);
  });

  it('formats numbers and refuses empty key parts', () => {
    const n = namespace('t1');
    expect(n.redisKey('rate', 'acme', 5)).toBe('t1:drover:rate:acme:5');
    expect(n.redisKey()).toBe('t1:drover');
    expect(() => n.redisKey('a', '')).toThrow(/empty/);
  });

  it('lists the streams of the architecture', () => {
    expect(STREAM_NAMES).toEqual(['EVENTS', 'TELEMETRY', 'DEVICE', 'COMMANDS', 'DLQ']);
  });
});
