import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import {
  DeviceRegisteredV1,
  DeviceStateChangedV1,
  EVENT_TYPE_PATTERN,
  InvalidEventError,
  TelemetryRejectedV1,
  ULID_PATTERN,
  createEvent,
  defineEvent,
  eventCatalog,
  eventSubjectFor,
  findEventDefinition,
  isEventOf,
  namespace,
  parseEvent,
  parseEventType,
} from '../../src';
import { eventExamples, invalidEventData } from './fixtures/event-examples';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

function example(type: string) {
  const def = findEventDefinition(type)!;
  return createEvent(def, {
    tenant: 'acme',
    source: 'test',
    subject: 'd-1',
    data: eventExamples[type]!,
    correlationId: '01JCORRELATION0000000000000',
    traceparent: TRACEPARENT,
  });
}

describe('event catalog', () => {
  it('has unique, well-formed types', () => {
    const types = eventCatalog.map((d) => d.type);
    expect(new Set(types).size).toBe(types.length);
    for (const d of eventCatalog) {
      expect(d.type).toMatch(EVENT_TYPE_PATTERN);
      expect(d.type).toBe(`drover.${d.aggregate}.${d.name}.v${d.version}`);
      expect(findEventDefinition(d.type)).toBe(d);
    }
  });

  it('has one definition file per event under src/events/', () => {
    const files = readdirSync(join(__dirname, '../../src/events')).filter((f) =>
      /\.v\d+\.ts$/.test(f),
    );
    expect(files.length).toBe(eventCatalog.length);
    for (const d of eventCatalog) {
      expect(files).toContain(`${d.aggregate}-${d.name.replace(/_/g, '-')}.v${d.version}.ts`);
    }
  });

  it('contains the foundation events', () => {
    // Later issues add their events (command.*, provisioning.*): the foundation stays.
    expect(eventCatalog.map((d) => d.type).sort()).toEqual(
      expect.arrayContaining([
        'drover.device.connected.v1',
        'drover.device.decommissioned.v1',
        'drover.device.disconnected.v1',
        'drover.device.registered.v1',
        'drover.device.state_changed.v1',
        'drover.device.updated.v1',
        'drover.telemetry.rejected.v1',
      ]),
    );
  });

  it('has an example for every event', () => {
    expect(Object.keys(eventExamples).sort()).toEqual(eventCatalog.map((d) => d.type).sort());
  });

  it.each(eventCatalog.map((d) => d.type))('%s: example is created and parsed back', (type) => {
    const event = example(type);
    const parsed = parseEvent(JSON.stringify(event));
    expect(parsed).toEqual({ ok: true, event, definition: findEventDefinition(type) });
  });

  it.each(invalidEventData)('%s refuses data with %s', (type, _why, data) => {
    const def = findEventDefinition(type)!;
    expect(() => createEvent(def, { tenant: 'acme', source: 'test', data })).toThrow(
      InvalidEventError,
    );
    const forged = { ...example(type), data };
    expect(parseEvent(forged)).toMatchObject({
      ok: false,
      reason: 'bad_data',
      detail: expect.stringMatching(/^\/data/),
    });
  });
});

describe('createEvent', () => {
  it('fills id, time and the fixed attributes, and omits absent optionals', () => {
    const before = Date.now();
    const event = createEvent(DeviceStateChangedV1, {
      tenant: 'acme',
      source: 'device-registry',
      data: { device_id: 'd1', kind: 'reported', version: 1, state: {}, delta: {} },
    });
    expect(event.id).toMatch(ULID_PATTERN);
    expect(Date.parse(event.time)).toBeGreaterThanOrEqual(before - 1);
    expect(event).toMatchObject({
      specversion: '1.0',
      type: 'drover.device.state_changed.v1',
      datacontenttype: 'application/json',
      tenant: 'acme',
      source: 'device-registry',
    });
    expect(Object.keys(event)).not.toEqual(expect.arrayContaining(['subject']));
    expect('correlationid' in event || 'traceparent' in event || 'subject' in event).toBe(false);
  });

  it('takes a given id, a Date or string time, correlation and trace ids', () => {
    const event = createEvent(DeviceStateChangedV1, {
      tenant: 'acme',
      source: 's',
      subject: 'd1',
      id: '01JD8X3K9M2Q4R6T8V0W2Y4Z6A',
      time: new Date(Date.UTC(2025, 0, 1)),
      correlationId: 'c-1',
      traceparent: TRACEPARENT,
      data: { device_id: 'd1', kind: 'reported', version: 1, state: {}, delta: {} },
    });
    expect(event).toMatchObject({
      id: '01JD8X3K9M2Q4R6T8V0W2Y4Z6A',
      time: '2025-01-01T00:00:00.000Z',
      subject: 'd1',
      correlationid: 'c-1',
      traceparent: TRACEPARENT,
    });
  });

  it('sorts ids minted in sequence', () => {
    const data = eventExamples['drover.device.connected.v1']!;
    const ids = Array.from(
      { length: 50 },
      () =>
        createEvent(findEventDefinition('drover.device.connected.v1')!, {
          tenant: 't',
          source: 's',
          data,
        }).id,
    );
    expect([...ids].sort()).toEqual(ids);
  });

  it.each([
    ['bad tenant', { tenant: 'a.b' }, /\/tenant/],
    ['empty source', { source: '' }, /\/source/],
    ['bad id', { id: 'not-a-ulid' }, /\/id/],
    ['bad time', { time: 'yesterday' }, /\/time/],
    ['bad traceparent', { traceparent: 'x' }, /\/traceparent/],
  ])('refuses a %s', (_why, override, detail) => {
    expect(() =>
      createEvent(TelemetryRejectedV1, {
        tenant: 'acme',
        source: 'mqtt-ingress',
        data: eventExamples['drover.telemetry.rejected.v1'] as never,
        ...override,
      }),
    ).toThrow(detail);
  });

  it('is strict about unknown data fields; parseEvent is tolerant', () => {
    const data = { ...eventExamples['drover.device.registered.v1'], added_in_a_later_minor: 1 };
    expect(() =>
      createEvent(DeviceRegisteredV1, { tenant: 'acme', source: 's', data: data as never }),
    ).toThrow(/\/data\/added_in_a_later_minor/);
    const event = { ...example('drover.device.registered.v1'), data };
    expect(parseEvent(event)).toMatchObject({ ok: true });
  });
});

describe('parseEvent', () => {
  const good = () => example('drover.device.connected.v1');

  it('accepts JSON text, bytes and objects', () => {
    const event = good();
    expect(parseEvent(JSON.stringify(event))).toMatchObject({ ok: true, event });
    expect(parseEvent(Buffer.from(JSON.stringify(event)))).toMatchObject({ ok: true, event });
    expect(parseEvent(event)).toMatchObject({ ok: true, event });
  });

  it('accepts unknown extension attributes (CloudEvents consumers must)', () => {
    expect(parseEvent({ ...good(), dataschema: 'x', partitionkey: 'p' })).toMatchObject({
      ok: true,
    });
  });

  it.each([
    ['not JSON', '{"a":'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d])],
  ])('refuses %s as bad_json', (_why, input) => {
    expect(parseEvent(input)).toMatchObject({ ok: false, reason: 'bad_json' });
  });

  it.each([
    ['null', () => null],
    ['an array', () => []],
    ['no specversion', () => ({ ...good(), specversion: undefined })],
    ['specversion 0.3', () => ({ ...good(), specversion: '0.3' })],
    ['a bad id', () => ({ ...good(), id: '1' })],
    ['no source', () => ({ ...good(), source: undefined })],
    ['a type outside drover', () => ({ ...good(), type: 'com.example.thing' })],
    ['no tenant', () => ({ ...good(), tenant: undefined })],
    ['a bad tenant', () => ({ ...good(), tenant: 'a/b' })],
    ['a bad time', () => ({ ...good(), time: 'now' })],
    ['another content type', () => ({ ...good(), datacontenttype: 'text/plain' })],
  ])('refuses %s as bad_envelope', (_why, make) => {
    expect(parseEvent(make())).toMatchObject({
      ok: false,
      reason: 'bad_envelope',
      detail: expect.any(String),
    });
  });

  it('refuses an event without data as bad_envelope', () => {
    const { data: _data, ...noData } = good();
    expect(parseEvent(noData)).toMatchObject({
      ok: false,
      reason: 'bad_envelope',
      detail: /^\/data/,
    });
    expect(parseEvent({ ...good(), data: undefined })).toMatchObject({
      ok: false,
      reason: 'bad_data',
    });
  });

  it.each(['drover.device.exploded.v1', 'drover.device.registered.v2'])(
    'refuses %s as unknown_type',
    (type) => {
      expect(parseEvent({ ...good(), type })).toMatchObject({
        ok: false,
        reason: 'unknown_type',
        detail: expect.stringContaining(type),
      });
    },
  );

  it('uses a custom catalog when given', () => {
    const Custom = defineEvent({
      aggregate: 'command',
      name: 'sent',
      version: 2,
      schema: Type.Object({ command_id: Type.String() }),
    });
    const event = createEvent(Custom, { tenant: 'acme', source: 's', data: { command_id: 'c1' } });
    expect(event.type).toBe('drover.command.sent.v2');
    expect(parseEvent(event)).toMatchObject({ ok: false, reason: 'unknown_type' });
    expect(parseEvent(event, { catalog: [Custom] })).toMatchObject({
      ok: true,
      definition: Custom,
    });
    expect(parseEvent(good(), { catalog: [Custom] })).toMatchObject({
      ok: false,
      reason: 'unknown_type',
    });
  });
});

describe('event helpers', () => {
  it('parses event types', () => {
    expect(parseEventType('drover.device.state_changed.v12')).toEqual({
      aggregate: 'device',
      name: 'state_changed',
      version: 12,
    });
    for (const bad of [
      'drover.device.registered',
      'drover.Device.registered.v1',
      'x.device.registered.v1',
      'drover.device.registered.v0',
      42,
    ]) {
      expect(parseEventType(bad as string)).toBeNull();
    }
  });

  it('narrows by definition', () => {
    const parsed = parseEvent(example('drover.device.state_changed.v1'));
    if (!parsed.ok) throw new Error(parsed.detail);
    expect(isEventOf(parsed.event, DeviceStateChangedV1)).toBe(true);
    expect(isEventOf(parsed.event, DeviceRegisteredV1)).toBe(false);
    if (isEventOf(parsed.event, DeviceStateChangedV1))
      expect(parsed.event.data.kind).toBe('desired');
  });

  it('gives the subject an event is published on', () => {
    const event = example('drover.telemetry.rejected.v1');
    expect(eventSubjectFor(namespace(), event)).toBe('iot.evt.acme.telemetry.rejected');
    expect(eventSubjectFor(namespace('t_1'), event)).toBe('t_1.iot.evt.acme.telemetry.rejected');
    expect(() => eventSubjectFor(namespace(), { tenant: 'acme', type: 'nope' })).toThrow(
      /event type/,
    );
  });

  it.each([
    [{ aggregate: 'Device', name: 'x', version: 1 }, /aggregate/],
    [{ aggregate: 'device', name: 'a.b', version: 1 }, /name/],
    [{ aggregate: 'device', name: 'x', version: 0 }, /version/],
    [{ aggregate: 'device', name: 'x', version: 1.5 }, /version/],
  ])('defineEvent refuses %j', (def, message) => {
    expect(() => defineEvent({ ...def, schema: Type.Object({}) })).toThrow(message);
  });
});
