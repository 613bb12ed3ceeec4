// The simulator's pure parts: seeded randomness, the sensor model, fleet plan, back-off,
// faults, messages and command decisions.
import { backoffDelayMs } from '../../src/domain/backoff';
import {
  CommandMemory,
  parseCommand,
  parseDesiredState,
  planCommand,
} from '../../src/domain/commands';
import {
  type SensorState,
  initialSensorState,
  readSensor,
  rebootSensor,
} from '../../src/domain/device-model';
import { NO_FAULTS, faultDraw, linkTraits } from '../../src/domain/fault-profile';
import { HARDWARE_MODELS, deviceRoot, planFleet, waves } from '../../src/domain/fleet-plan';
import * as msg from '../../src/domain/messages';
import { type Random, chance, createRandom, noise, seedOf } from '../../src/domain/random';
import { encodePayload } from '../../src/payload.codec';
import { decode } from 'cbor-x';

const fixed = (...values: number[]): Random => {
  let i = 0;
  return { next: () => values[i++ % values.length] ?? 0 };
};

describe('random', () => {
  it('is deterministic per seed and different across seeds', () => {
    const a = createRandom(seedOf(1, 'sim-acme-0001'));
    const b = createRandom(seedOf(1, 'sim-acme-0001'));
    const c = createRandom(seedOf(2, 'sim-acme-0001'));
    const seqA = [a.next(), a.next(), a.next()];
    expect([b.next(), b.next(), b.next()]).toEqual(seqA);
    expect([c.next(), c.next(), c.next()]).not.toEqual(seqA);
    for (const v of seqA) expect(v >= 0 && v < 1).toBe(true);
  });

  it.each([
    { rate: 0, draw: 0, expected: false },
    { rate: 0.5, draw: 0.4, expected: true },
    { rate: 0.5, draw: 0.6, expected: false },
    { rate: 1, draw: 0.999, expected: true },
  ])('chance($rate) with draw $draw is $expected', ({ rate, draw, expected }) => {
    expect(chance(fixed(draw), rate)).toBe(expected);
  });

  it('noise is centred and bounded by 3 sd', () => {
    expect(noise(fixed(0.5), 2)).toBeCloseTo(0);
    expect(noise(fixed(0), 2)).toBeCloseTo(-6);
    expect(noise(fixed(0.999999), 2)).toBeCloseTo(6, 3);
  });
});

describe('sensor model', () => {
  const base: SensorState = {
    temperatureC: 20,
    driftPerHour: 1,
    battery: 0.5,
    drainPerHour: 0.01,
    rssiBaseDbm: -70,
    uptimeS: 100,
  };

  it('starts plausible', () => {
    const s = initialSensorState(createRandom(7));
    expect(s.temperatureC).toBeGreaterThanOrEqual(18);
    expect(s.temperatureC).toBeLessThan(26);
    expect(s.battery).toBeGreaterThanOrEqual(0.6);
    expect(s.rssiBaseDbm).toBeLessThanOrEqual(-50);
    expect(s.uptimeS).toBe(0);
  });

  it.each([
    { name: 'drifts, drains and ages', state: base, dt: 3600, temp: 21, battery: 0.49, up: 3700 },
    {
      name: 'swaps a flat battery',
      state: { ...base, battery: 0.055 },
      dt: 3600,
      temp: 21,
      battery: 1,
      up: 3700,
    },
    {
      name: 'clamps the temperature',
      state: { ...base, temperatureC: 84.9, driftPerHour: 2 },
      dt: 36_000,
      temp: 85,
      battery: 0.4,
      up: 36_100,
    },
  ])('$name', ({ state, dt, temp, battery, up }) => {
    // 0.5 everywhere: zero noise, so the physics alone shows.
    const { state: next, metrics } = readSensor(state, dt, fixed(0.5));
    expect(next.temperatureC).toBeCloseTo(temp);
    expect(metrics).toEqual({
      temperature: temp,
      battery,
      rssi: -70,
      uptime_s: up,
    });
  });

  it('clamps RSSI into −120…−30 dBm', () => {
    expect(readSensor({ ...base, rssiBaseDbm: -125 }, 1, fixed(0.5)).metrics.rssi).toBe(-120);
    expect(readSensor({ ...base, rssiBaseDbm: -20 }, 1, fixed(0.5)).metrics.rssi).toBe(-30);
  });

  it('reboot resets uptime only', () => {
    expect(rebootSensor(base)).toEqual({ ...base, uptimeS: 0 });
  });
});

describe('fleet plan', () => {
  it('gives stable ids, hardware ids and a mix of models', () => {
    const fleet = planFleet({ tenant: 'acme', size: 20, seed: 1 });
    expect(fleet[0]).toMatchObject({
      index: 0,
      deviceId: 'sim-acme-0001',
      hardwareId: 'hw-sim-acme-0001',
    });
    expect(planFleet({ tenant: 'acme', size: 20, seed: 1 })).toEqual(fleet);
    const models = new Set(fleet.map((d) => d.hardwareModel));
    expect([...models].sort()).toEqual([...HARDWARE_MODELS].sort());
  });

  it('widens the number for big fleets', () => {
    expect(planFleet({ tenant: 't', size: 10_000, seed: 1 })[9_999]?.deviceId).toBe('sim-t-10000');
  });

  it('continues the numbering from an offset, so several simulators share one fleet', () => {
    const whole = planFleet({ tenant: 'acme', size: 30_000, seed: 1 });
    const second = planFleet({ tenant: 'acme', size: 10_000, seed: 1, offset: 20_000 });
    expect(second[0]).toEqual(whole[20_000]);
    expect(second.at(-1)).toEqual(whole.at(-1));
  });

  it('refuses a tenant that makes ids too long', () => {
    expect(() => planFleet({ tenant: 'x'.repeat(60), size: 1, seed: 1 })).toThrow(/id rule/);
  });

  it.each([
    { items: [1, 2, 3, 4, 5], size: 2, expected: [[1, 2], [3, 4], [5]] },
    { items: [], size: 2, expected: [] },
  ])('waves of $size', ({ items, size, expected }) => {
    expect(waves(items, size)).toEqual(expected);
  });

  it.each([
    { prefix: '', expected: 'acme/sensor/d1' },
    { prefix: 'ns', expected: 'ns/acme/sensor/d1' },
  ])('root with prefix "$prefix"', ({ prefix, expected }) => {
    expect(deviceRoot(prefix, 'acme', 'sensor', 'd1')).toBe(expected);
  });
});

describe('backoff', () => {
  it.each([
    { attempt: 0, draw: 0.9, expected: 1000 },
    { attempt: 3, draw: 0, expected: 1000 },
    { attempt: 3, draw: 1, expected: 8000 },
    { attempt: 50, draw: 1, expected: 300_000 },
  ])('attempt $attempt, draw $draw → $expected ms', ({ attempt, draw, expected }) => {
    expect(backoffDelayMs(attempt, fixed(draw))).toBe(expected);
  });

  it('honours custom bounds', () => {
    expect(backoffDelayMs(10, fixed(1), { minMs: 10, maxMs: 50 })).toBe(50);
  });
});

describe('fault profile', () => {
  it('never faults with NO_FAULTS', () => {
    const f = faultDraw(NO_FAULTS, fixed(0));
    expect([f.failCommand(), f.malformed(), f.flap()]).toEqual([false, false, false]);
  });

  it('faults at the configured rates', () => {
    const f = faultDraw({ commandFailureRate: 1, malformedRate: 1, flapRate: 1 }, fixed(0.5));
    expect([f.failCommand(), f.malformed(), f.flap()]).toEqual([true, true, true]);
  });

  it('is deterministic from the seed', () => {
    const profile = { commandFailureRate: 0.3, malformedRate: 0, flapRate: 0 };
    const run = () => {
      const f = faultDraw(profile, createRandom(42));
      return Array.from({ length: 50 }, () => f.failCommand());
    };
    const first = run();
    expect(run()).toEqual(first);
    expect(first.filter(Boolean).length).toBeGreaterThan(5);
  });
});

describe('messages', () => {
  it.each([
    { seq: 0, ts: 1_700_000_000_000 },
    { seq: 1, ts: '2023-11-14T22:13:20.000Z' },
  ])('envelope $seq alternates ts forms', ({ seq, ts }) => {
    expect(msg.envelope('run', seq, 1_700_000_000_000)).toEqual({
      msg_id: `run-${seq}`,
      ts,
      schema_version: 1,
    });
  });

  it.each([
    { seq: 4, every: 5, expected: 'cbor' },
    { seq: 3, every: 5, expected: 'json' },
    { seq: 4, every: 0, expected: 'json' },
  ])('message $seq with cbor every $every is $expected', ({ seq, every, expected }) => {
    expect(msg.encodingFor(seq, every)).toBe(expected);
  });

  it('builds status, telemetry, results and reported state', () => {
    const env = msg.envelope('r', 0, 1);
    expect(msg.onlineStatus(env, '1.0.0', 'sx-100')).toEqual({
      ...env,
      state: 'online',
      firmware_version: '1.0.0',
      hardware_model: 'sx-100',
    });
    expect(msg.OFFLINE_STATUS).toEqual({ state: 'offline' });
    expect(msg.telemetry(env, { a: 1 })).toEqual({ ...env, metrics: { a: 1 } });
    expect(
      msg.commandResult(env, { cmdId: 'c1', status: 'succeeded', extra: { result: { x: 1 } } }),
    ).toEqual({ ...env, cmd_id: 'c1', status: 'succeeded', result: { x: 1 } });
    expect(msg.reportedState(env, { led: 'on' })).toEqual({ ...env, state: { led: 'on' } });
  });

  it('encodes JSON, CBOR maps and malformed JSON', () => {
    const body = { msg_id: 'm', n: 1 };
    expect(JSON.parse(encodePayload(body, 'json').toString())).toEqual(body);
    const cbor = encodePayload(body, 'cbor');
    expect(cbor[0]).toBeGreaterThanOrEqual(0xa0);
    expect(cbor[0]).toBeLessThanOrEqual(0xbf);
    expect(decode(cbor)).toEqual(body);
    expect(() => JSON.parse(encodePayload(body, 'json', true).toString())).toThrow();
  });
});

describe('commands', () => {
  const now = Date.parse('2026-11-26T07:00:00Z');
  const command = (name: string, extra: Record<string, unknown> = {}) =>
    Buffer.from(
      JSON.stringify({
        msg_id: 'c1',
        ts: now,
        schema_version: 1,
        command: { name, params: { a: 1 } },
        expires_at: '2026-11-26T08:00:00Z',
        ...extra,
      }),
    );

  it.each([
    { name: 'valid', payload: command('reboot'), ok: true },
    { name: 'not JSON', payload: Buffer.from('{'), ok: false },
    { name: 'no command', payload: Buffer.from('{"msg_id":"c1"}'), ok: false },
  ])('parses a $name command', ({ payload, ok }) => {
    const parsed = parseCommand(payload);
    expect(parsed !== null).toBe(ok);
    if (ok)
      expect(parsed).toEqual({
        id: 'c1',
        name: 'reboot',
        params: { a: 1 },
        expiresAtMs: now + 3_600_000,
      });
  });

  it.each([
    { payload: '{"state":{"led":"on"},"version":1}', expected: { led: 'on' } },
    { payload: '{"state":[1]}', expected: null },
    { payload: '{"version":1}', expected: null },
    { payload: 'null', expected: null },
    { payload: '', expected: null },
  ])('desired state $payload', ({ payload, expected }) => {
    expect(parseDesiredState(Buffer.from(payload))).toEqual(expected);
  });

  const cmd = (name: string, expiresAtMs = now + 1000) => ({
    id: 'c1',
    name,
    params: { a: 1 },
    expiresAtMs,
  });
  it.each([
    {
      name: 'reboot',
      c: cmd('reboot'),
      fail: false,
      statuses: ['accepted', 'succeeded'],
      reboot: true,
      last: { result: { rebooting: true } },
    },
    {
      name: 'unknown echoes',
      c: cmd('blink'),
      fail: false,
      statuses: ['accepted', 'succeeded'],
      reboot: false,
      last: { result: { echo: { name: 'blink', params: { a: 1 } } } },
    },
    {
      name: 'injected failure',
      c: cmd('reboot'),
      fail: true,
      statuses: ['accepted', 'failed'],
      reboot: false,
      last: { error: 'simulated failure' },
    },
    {
      name: 'expired',
      c: cmd('blink', now),
      fail: false,
      statuses: ['rejected'],
      reboot: false,
      last: { error: 'expired' },
    },
  ])('plans $name', ({ c, fail, statuses, reboot, last }) => {
    const plan = planCommand(c, fail, now);
    expect(plan.answers.map((a) => a.status)).toEqual(statuses);
    expect(plan.reboot).toBe(reboot);
    expect(plan.answers.at(-1)?.extra).toEqual(last);
    expect(plan.answers.every((a) => a.cmdId === 'c1')).toBe(true);
  });

  it('remembers the last answers, forgetting the oldest', () => {
    const memory = new CommandMemory(2);
    const a = (id: string) => ({ cmdId: id, status: 'succeeded' as const, extra: {} });
    memory.remember(a('1'));
    memory.remember(a('2'));
    memory.remember(a('3'));
    expect(memory.get('1')).toBeUndefined();
    expect(memory.get('3')).toEqual(a('3'));
    expect(new CommandMemory().get('x')).toBeUndefined();
  });
});

describe('link traits', () => {
  const profile = {
    networkDelayMs: 40,
    slowLinkRate: 0.5,
    clockSkewRate: 0.5,
    maxClockSkewMs: 60_000,
  };

  it('gives a jittered delay and a true clock to an ordinary device', () => {
    // jitter draw 0.5 → ×1; slow 0.9 ≥ 0.5; skewed 0.9 ≥ 0.5.
    expect(linkTraits(profile, fixed(0.5, 0.9, 0.9, 0))).toEqual({ delayMs: 40, clockSkewMs: 0 });
  });

  it('slows a slow link tenfold (at least 200 ms) and skews a skewed clock either way', () => {
    expect(linkTraits(profile, fixed(0.5, 0.1, 0.1, 0))).toEqual({
      delayMs: 400,
      clockSkewMs: -60_000,
    });
    const loopback = { ...profile, networkDelayMs: 0 };
    expect(linkTraits(loopback, fixed(0.5, 0.1, 0.9, 0.75)).delayMs).toBe(200);
    expect(linkTraits(loopback, fixed(0.5, 0.9, 0.1, 0.75)).clockSkewMs).toBe(30_000);
  });
});
