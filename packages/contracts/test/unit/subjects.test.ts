import {
  DEVICE_SUBJECT_KINDS,
  InvalidIdError,
  type Naming,
  commandFilter,
  commandSubject,
  desiredFilter,
  desiredSubject,
  deviceFilter,
  deviceSubject,
  dlqFilter,
  dlqSubject,
  eventFilter,
  eventSubject,
  namespace,
  parseCommandSubject,
  parseDesiredSubject,
  parseDeviceSubject,
  parseEventSubject,
  parseTelemetrySubject,
  ingressMembersSubject,
  rpcFilter,
  rpcSubject,
  telemetryFilter,
  telemetrySubject,
} from '../../src';
import { BAD_IDS } from './bad-ids';

const prod = namespace();
const ns = namespace('t_ab12');

// Every builder with a slot for an id, so each bad id can be tried in each position.
const builders: [string, number, (n: Naming, ids: string[]) => string][] = [
  ['telemetrySubject', 3, (n, [a, b, c]) => telemetrySubject(n, a!, b!, c!)],
  ['commandSubject', 2, (n, [a, b]) => commandSubject(n, a!, b!)],
  ['desiredSubject', 2, (n, [a, b]) => desiredSubject(n, a!, b!)],
  ['deviceSubject', 2, (n, [a, b]) => deviceSubject(n, 'presence', a!, b!)],
  ['eventSubject', 3, (n, [a, b, c]) => eventSubject(n, a!, b!, c!)],
  ['rpcSubject', 2, (n, [a, b]) => rpcSubject(n, a!, b!)],
  ['dlqSubject', 2, (n, [a, b]) => dlqSubject(n, a!, b!)],
  ['ingressMembersSubject', 1, (n, [a]) => ingressMembersSubject(n, a!)],
  ['telemetryFilter', 2, (n, [a, b]) => telemetryFilter(n, a!, b!)],
  ['commandFilter', 1, (n, [a]) => commandFilter(n, a!)],
  ['desiredFilter', 1, (n, [a]) => desiredFilter(n, a!)],
  ['deviceFilter', 1, (n, [a]) => deviceFilter(n, 'presence', a!)],
  ['eventFilter', 3, (n, [a, b, c]) => eventFilter(n, { tenant: a!, aggregate: b!, event: c! })],
  ['rpcFilter', 1, (n, [a]) => rpcFilter(n, a!)],
];

describe('subject builders', () => {
  it.each([
    [telemetrySubject(prod, 'acme', 'sensor', 'd1'), 'iot.telemetry.acme.sensor.d1'],
    [telemetrySubject(ns, 'acme', 'sensor', 'd1'), 't_ab12.iot.telemetry.acme.sensor.d1'],
    [commandSubject(prod, 'acme', 'd1'), 'iot.cmd.acme.d1'],
    [desiredSubject(ns, 'acme', 'd1'), 't_ab12.iot.desired.acme.d1'],
    [deviceSubject(prod, 'cmd_res', 'acme', 'd1'), 'iot.device.acme.cmd_res.d1'],
    [eventSubject(prod, 'acme', 'device', 'registered'), 'iot.evt.acme.device.registered'],
    [eventSubject(ns, 'acme', 'device', 'registered'), 't_ab12.iot.evt.acme.device.registered'],
    [rpcSubject(prod, 'device-registry', 'get_device'), 'iot.rpc.device-registry.get_device'],
    [rpcSubject(ns, 'device-registry', 'get_device'), 't_ab12.iot.rpc.device-registry.get_device'],
    [dlqSubject(prod, 'EVENTS', 'registry-presence'), 'iot.dlq.EVENTS.registry-presence'],
    [ingressMembersSubject(ns, 'ingress'), 't_ab12.iot.ingress.ingress.members'],
  ])('%s', (actual, expected) => {
    expect(actual).toBe(expected);
  });

  it.each([...DEVICE_SUBJECT_KINDS])('builds device subject kind %s', (kind) => {
    expect(deviceSubject(prod, kind, 't', 'd')).toBe(`iot.device.t.${kind}.d`);
  });

  it('refuses an unknown device kind', () => {
    expect(() => deviceSubject(prod, 'nope' as never, 't', 'd')).toThrow(/kind/);
    expect(() => deviceFilter(prod, 'nope' as never)).toThrow(/kind/);
  });

  describe.each(builders)('%s refuses bad ids', (_name, slots, build) => {
    const cases = BAD_IDS.flatMap((bad) =>
      Array.from({ length: slots }, (_, pos) => [pos, bad] as const),
    );
    it.each(cases)('position %i: %j', (pos, bad) => {
      const ids = Array.from({ length: slots }, (_, i) => (i === pos ? bad : 'ok'));
      // undefined means "wildcard" for filters, so only test it on the builders proper.
      if (bad === undefined && _name.endsWith('Filter')) return;
      expect(() => build(prod, ids as string[])).toThrow(InvalidIdError);
    });
  });
});

describe('subject filters', () => {
  it.each([
    [telemetryFilter(prod), 'iot.telemetry.>'],
    [telemetryFilter(ns, 'acme'), 't_ab12.iot.telemetry.acme.*.*'],
    [telemetryFilter(prod, undefined, 'sensor'), 'iot.telemetry.*.sensor.*'],
    [commandFilter(prod), 'iot.cmd.>'],
    [commandFilter(prod, 'acme'), 'iot.cmd.acme.*'],
    [desiredFilter(ns), 't_ab12.iot.desired.>'],
    [desiredFilter(prod, 'acme'), 'iot.desired.acme.*'],
    [deviceFilter(prod), 'iot.device.>'],
    [deviceFilter(prod, 'presence'), 'iot.device.*.presence.*'],
    [deviceFilter(prod, undefined, 'acme'), 'iot.device.acme.*.*'],
    [eventFilter(prod), 'iot.evt.>'],
    [eventFilter(prod, { aggregate: 'device' }), 'iot.evt.*.device.*'],
    [eventFilter(ns, { tenant: 'acme', event: 'rejected' }), 't_ab12.iot.evt.acme.*.rejected'],
    [rpcFilter(prod, 'device-registry'), 'iot.rpc.device-registry.*'],
    [dlqFilter(ns), 't_ab12.iot.dlq.>'],
  ])('%s', (actual, expected) => {
    expect(actual).toBe(expected);
  });
});

describe('subject parsers', () => {
  it('round-trips every builder through its parser, with and without a namespace', () => {
    for (const n of [prod, ns]) {
      const t = telemetrySubject(n, 'acme', 'sensor', 'd1');
      const expected = { tenant: 'acme', deviceType: 'sensor', deviceId: 'd1' };
      expect(parseTelemetrySubject(t, n)).toEqual(expected);
      expect(parseTelemetrySubject(n, t)).toEqual(expected);
      expect(parseTelemetrySubject(t)).toEqual(expected);
      const d = deviceSubject(n, 'update_status', 'acme', 'd1');
      expect(parseDeviceSubject(d, n)).toEqual({
        tenant: 'acme',
        kind: 'update_status',
        deviceId: 'd1',
      });
      const e = eventSubject(n, 'acme', 'device', 'registered');
      expect(parseEventSubject(n, e)).toEqual({
        tenant: 'acme',
        aggregate: 'device',
        event: 'registered',
      });
      expect(parseCommandSubject(commandSubject(n, 'acme', 'd1'), n)).toEqual({
        tenant: 'acme',
        deviceId: 'd1',
      });
      expect(parseDesiredSubject(desiredSubject(n, 'acme', 'd1'))).toEqual({
        tenant: 'acme',
        deviceId: 'd1',
      });
    }
  });

  it('requires the given namespace exactly', () => {
    expect(parseTelemetrySubject('iot.telemetry.a.b.c', ns)).toBeNull();
    expect(parseTelemetrySubject('other.iot.telemetry.a.b.c', ns)).toBeNull();
    expect(parseTelemetrySubject('t_ab12.iot.telemetry.a.b.c', prod)).toBeNull();
  });

  it.each([
    '',
    'iot',
    'iot.telemetry',
    'iot.telemetry.a.b',
    'iot.telemetry.a.b.c.d',
    'iot.telemetry.a.*.c',
    'iot.telemetry.a.>.c',
    'iot.telemetry.a..c',
    'iot.cmd.a.b.c',
    'x.y.iot.telemetry.a.b.c',
    'Bad-NS.iot.telemetry.a.b.c',
    'iot.telemetry.a.b.' + 'c'.repeat(65),
  ])('parseTelemetrySubject(%j) is null', (s) => {
    expect(parseTelemetrySubject(s)).toBeNull();
  });

  it.each([
    'iot.device.a.nope.d',
    'iot.device.a.presence',
    'iot.evt.a.presence.d',
    'iot.device.a.presence.d.e',
  ])('parseDeviceSubject(%j) is null', (s) => {
    expect(parseDeviceSubject(s)).toBeNull();
  });

  it.each(['iot.evt.a.b', 'iot.evt.a.b.c.d', 'iot.evt.a.b.*', 'iot.telemetry.a.b.c'])(
    'parseEventSubject(%j) is null',
    (s) => {
      expect(parseEventSubject(s)).toBeNull();
    },
  );

  it.each(['iot.cmd.a', 'iot.cmd.a.b.c', 'iot.desired.a.b', 'iot.cmd.a.$b'])(
    'parseCommandSubject(%j) is null',
    (s) => {
      expect(parseCommandSubject(s)).toBeNull();
    },
  );

  it('returns null for non-strings', () => {
    expect(parseTelemetrySubject(42 as never)).toBeNull();
    expect(parseDesiredSubject(prod, null as never)).toBeNull();
  });
});
