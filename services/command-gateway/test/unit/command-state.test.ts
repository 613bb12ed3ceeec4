import {
  applyAnswer,
  applySignal,
  COMMAND_STATUSES,
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

it('knows the final states', () => {
  expect(COMMAND_STATUSES.filter((s) => !isFinal(s))).toEqual([...OPEN_STATUSES]);
  expect(isFinal('queued')).toBe(false);
  expect(isFinal('accepted')).toBe(false);
  expect(isFinal('timed_out')).toBe(true);
});
