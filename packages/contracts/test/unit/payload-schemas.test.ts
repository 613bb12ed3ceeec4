import { compileChecker, formatIssue, payloadCheckers } from '../../src';
import { Type } from '@sinclair/typebox';
import { invalidPayloads, moreValid, validPayloads } from './fixtures/payloads';

describe('payload schemas', () => {
  it('has a valid example for every checker', () => {
    expect(Object.keys(validPayloads).sort()).toEqual(Object.keys(payloadCheckers).sort());
  });

  it.each(Object.entries(validPayloads))('%s accepts its example', (name, value) => {
    const checker = payloadCheckers[name as keyof typeof payloadCheckers];
    expect(checker.firstError(value)).toBeNull();
    expect(checker.check(value)).toBe(true);
  });

  it.each(moreValid)('%s accepts variant %#', (name, value) => {
    const checker = payloadCheckers[name];
    expect(checker.firstError(value)).toBeNull();
    expect(checker.check(value)).toBe(true);
  });

  it.each(invalidPayloads)('%s refuses: %s', (name, _why, value) => {
    const checker = payloadCheckers[name];
    expect(checker.check(value)).toBe(false);
    const issue = checker.firstError(value);
    expect(issue).not.toBeNull();
    expect(typeof issue!.message).toBe('string');
  });

  it('names the offending path', () => {
    const c = payloadCheckers.TelemetryPayload;
    expect(c.firstError({ ...validPayloads.TelemetryPayload, metrics: { t: {} } })?.path).toBe(
      '/metrics/t',
    );
    expect(c.firstError({ ...validPayloads.TelemetryPayload, extra: 1 })?.path).toBe('/extra');
  });

  it('reports the variant a union value was aiming at', () => {
    // status "online" without firmware_version: the online variant's error, not "union".
    const issue = payloadCheckers.StatusPayload.firstError({
      msg_id: 'm',
      ts: 1,
      schema_version: 1,
      state: 'online',
    });
    expect(issue).toEqual({ path: '/firmware_version', message: expect.any(String) });
    const unmatched = payloadCheckers.StatusPayload.firstError({ state: 'sleeping' });
    expect(unmatched?.path).toBe('');
    expect(unmatched?.message).toMatch(/allowed shapes/);
  });

  it('lists the alternatives of a scalar union', () => {
    const c = payloadCheckers.TelemetryPayload;
    expect(c.firstError({ ...validPayloads.TelemetryPayload, ts: true })).toEqual({
      path: '/ts',
      message: 'Expected string or Expected integer',
    });
    expect(c.firstError({ ...validPayloads.TelemetryPayload, metrics: { a: null } })).toEqual({
      path: '/metrics/a',
      message: 'Expected number or Expected boolean or Expected string',
    });
  });

  it('formats issues on one line', () => {
    expect(formatIssue({ path: '', message: 'x' })).toBe('/: x');
    expect(formatIssue({ path: '/a', message: 'y' })).toBe('/a: y');
  });

  it('compiles other schemas too', () => {
    const c = compileChecker(Type.Object({ a: Type.Integer() }));
    expect(c.check({ a: 1 })).toBe(true);
    expect(c.check({ a: 1.5 })).toBe(false);
    expect(c.firstError({ a: 'x' })?.path).toBe('/a');
    expect(c.schema.type).toBe('object');
  });
});
