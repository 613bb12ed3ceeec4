import {
  applyAnswer,
  applySignal,
  COMMAND_STATUSES,
  type CancelDecision,
  decideCancel,
  OPEN_STATUSES,
  type CommandStatus,
  type DeviceAnswer,
  isFinal,
  type PlatformSignal,
  type Transition,
} from '../../src/domain/command-state';

const mv = (to: CommandStatus): Transition => ({ kind: 'move', to });
const ig = (reason: 'duplicate' | 'late' | 'stale'): Transition => ({ kind: 'ignore', reason });

describe('applyAnswer', () => {
  const table: [CommandStatus, DeviceAnswer, Transition][] = [
    ['queued', 'accepted', mv('accepted')],
    ['queued', 'succeeded', mv('succeeded')],
    ['sent', 'accepted', mv('accepted')],
    ['sent', 'failed', mv('failed')],
    ['sent', 'rejected', mv('rejected')],
    ['accepted', 'accepted', ig('duplicate')],
    ['accepted', 'succeeded', mv('succeeded')],
    ['succeeded', 'succeeded', ig('duplicate')],
    ['succeeded', 'failed', ig('late')],
    ['timed_out', 'succeeded', ig('late')],
    ['expired', 'accepted', ig('late')],
    ['rejected', 'rejected', ig('duplicate')],
  ];
  it.each(table)('%s + %s', (from, answer, expected) => {
    expect(applyAnswer(from, answer)).toEqual(expected);
  });
});

describe('applySignal', () => {
  const table: [CommandStatus, PlatformSignal, Transition][] = [
    ['queued', 'broker_acked', mv('sent')],
    ['sent', 'broker_acked', ig('duplicate')],
    ['accepted', 'broker_acked', ig('duplicate')],
    ['queued', 'deadline', mv('timed_out')],
    ['sent', 'deadline', mv('timed_out')],
    ['accepted', 'deadline', mv('timed_out')],
    ['queued', 'expired', mv('expired')],
    ['sent', 'expired', ig('stale')],
    ['queued', 'dead_lettered', mv('dead_lettered')],
    ['sent', 'dead_lettered', mv('dead_lettered')],
    ['accepted', 'dead_lettered', ig('stale')],
    ['succeeded', 'deadline', ig('late')],
    ['dead_lettered', 'broker_acked', ig('late')],
  ];
  it.each(table)('%s + %s', (from, signal, expected) => {
    expect(applySignal(from, signal)).toEqual(expected);
  });
});

describe('decideCancel', () => {
  const table: [CommandStatus, number, CancelDecision][] = [
    ['queued', 0, { kind: 'move', to: 'cancelled' }],
    // Handed over, the broker's ack not reported yet: it may be on the device.
    ['queued', 1, { kind: 'refuse', reason: 'already_sent' }],
    ['sent', 1, { kind: 'refuse', reason: 'already_sent' }],
    ['accepted', 2, { kind: 'refuse', reason: 'already_sent' }],
    ['succeeded', 1, { kind: 'refuse', reason: 'final' }],
    ['expired', 0, { kind: 'refuse', reason: 'final' }],
    ['cancelled', 0, { kind: 'ignore', reason: 'duplicate' }],
  ];
  it.each(table)('%s after %i hand-overs', (from, attempts, expected) => {
    expect(decideCancel(from, attempts)).toEqual(expected);
  });

  it('a cancelled command takes no answer or signal any more', () => {
    expect(applyAnswer('cancelled', 'succeeded')).toEqual(ig('late'));
    expect(applySignal('cancelled', 'deadline')).toEqual(ig('late'));
  });
});

it('knows the final states', () => {
  expect(COMMAND_STATUSES.filter((s) => !isFinal(s))).toEqual([...OPEN_STATUSES]);
  expect(isFinal('queued')).toBe(false);
  expect(isFinal('accepted')).toBe(false);
  expect(isFinal('timed_out')).toBe(true);
  expect(isFinal('cancelled')).toBe(true);
});
