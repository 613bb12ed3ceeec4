import { resendDelayMs } from '../../src/domain/backoff';
import { decodeCursor, encodeCursor } from '../../src/domain/cursor';
import { type DueAction, type DueCommand, decideDue } from '../../src/domain/due';
import { fanoutSlotMs, summarize } from '../../src/domain/fanout';

const NOW = 1_000_000;
const base: DueCommand = {
  status: 'queued',
  attempts: 0,
  answered: false,
  expiresAtMs: NOW + 60_000,
  nextAttemptAtMs: NOW,
  deadlineAtMs: null,
};

describe('decideDue', () => {
  const table: [string, Partial<DueCommand>, boolean, DueAction][] = [
    ['queued, due, online', {}, true, 'dispatch'],
    ['queued, due, offline', {}, false, 'park'],
    ['queued, expired', { expiresAtMs: NOW }, true, 'expire'],
    ['queued, parked', { nextAttemptAtMs: null }, true, 'none'],
    ['queued, not yet due', { nextAttemptAtMs: NOW + 1 }, true, 'none'],
    ['handed over, deadline', { attempts: 1, deadlineAtMs: NOW }, true, 'time_out'],
    ['sent, deadline', { status: 'sent', attempts: 1, deadlineAtMs: NOW }, true, 'time_out'],
    ['sent, resend due', { status: 'sent', attempts: 1, deadlineAtMs: NOW + 5 }, true, 'resend'],
    [
      'sent, resend, offline',
      { status: 'sent', attempts: 1, deadlineAtMs: NOW + 5 },
      false,
      'park',
    ],
    [
      'sent, answered',
      { status: 'sent', attempts: 1, answered: true, deadlineAtMs: NOW + 5 },
      true,
      'none',
    ],
    [
      'accepted, deadline',
      { status: 'accepted', attempts: 1, deadlineAtMs: NOW },
      true,
      'time_out',
    ],
    ['accepted, waiting', { status: 'accepted', attempts: 1, nextAttemptAtMs: null }, true, 'none'],
    ['final', { status: 'succeeded', attempts: 1 }, true, 'none'],
  ];
  it.each(table)('%s', (_label, patch, online, expected) => {
    expect(decideDue({ ...base, ...patch }, NOW, online)).toBe(expected);
  });
});

describe('resendDelayMs', () => {
  const policy = { baseMs: 1000, maxMs: 5000 };
  it.each([
    [1, 0, 500],
    [1, 1, 1000],
    [2, 0.5, 1500],
    [3, 1, 4000],
    [10, 1, 5000],
    [0, 2, 1000],
    [1, -1, 500],
  ])('attempt %d, random %d -> %d', (attempt, random, expected) => {
    expect(resendDelayMs(policy, attempt, random)).toBe(expected);
  });
});

describe('fan-out', () => {
  it('spaces releases at the rate', () => {
    expect([0, 1, 99, 100].map((i) => fanoutSlotMs(0, i, 100))).toEqual([0, 10, 990, 1000]);
  });
  it('summarizes progress', () => {
    expect(summarize({ queued: 1, succeeded: 2 }, 3)).toEqual({
      counts: { queued: 1, succeeded: 2 },
      done: false,
    });
    expect(summarize({ succeeded: 2, timed_out: 1 }, 3).done).toBe(true);
  });
});

describe('cursor', () => {
  it('round-trips and refuses foreign input', () => {
    expect(decodeCursor(encodeCursor('01JABC'))).toBe('01JABC');
    expect(decodeCursor(Buffer.from('a.b').toString('base64url'))).toBeNull();
  });
});
