import {
  applyPresence,
  coalesceLastSeen,
  foldPresence,
  type PresenceSnapshot,
} from '../../src/domain/presence';

const base: PresenceSnapshot = {
  connectivity: 'unknown',
  lastSeenMs: null,
  lastPresenceMs: null,
  firmwareVersion: null,
  hardwareModel: null,
};
const W = 60_000;

describe('coalesceLastSeen', () => {
  it.each([
    ['first activity', null, 1000, 1000],
    ['inside the window', 1000, 1000 + W - 1, null],
    ['at the window', 1000, 1000 + W, 1000 + W],
    ['older than stored', 5000, 1000, null],
  ])('%s', (_name, last, ts, expected) => {
    expect(coalesceLastSeen(last, ts, W)).toBe(expected);
  });
});

describe('applyPresence', () => {
  it('first online connects and records firmware and model', () => {
    expect(
      applyPresence(
        base,
        { state: 'online', tsMs: 1000, firmwareVersion: '1.0.0', hardwareModel: 'm1' },
        W,
      ),
    ).toEqual({
      kind: 'apply',
      connectivity: 'online',
      transition: 'connected',
      lastSeenMs: 1000,
      lastPresenceMs: 1000,
      changes: { firmware_version: '1.0.0', hardware_model: 'm1' },
    });
  });

  const online: PresenceSnapshot = {
    connectivity: 'online',
    lastSeenMs: 1000,
    lastPresenceMs: 1000,
    firmwareVersion: '1.0.0',
    hardwareModel: 'm1',
  };

  it.each([
    ['older than the last presence', { state: 'offline' as const, tsMs: 999 }, 'out_of_order'],
    ['repeat online inside the window', { state: 'online' as const, tsMs: 2000 }, 'coalesced'],
    [
      'repeat online with the same firmware',
      { state: 'online' as const, tsMs: 2000, firmwareVersion: '1.0.0', hardwareModel: 'm1' },
      'coalesced',
    ],
  ])('ignores %s', (_name, input, reason) => {
    expect(applyPresence(online, input, W)).toEqual({ kind: 'ignore', reason });
  });

  it('offline after online disconnects; last_seen never moves back', () => {
    expect(
      applyPresence({ ...online, lastSeenMs: 5000 }, { state: 'offline', tsMs: 3000 }, W),
    ).toEqual({
      kind: 'apply',
      connectivity: 'offline',
      transition: 'disconnected',
      lastSeenMs: 5000,
      lastPresenceMs: 3000,
      changes: {},
    });
  });

  it('offline carries no firmware change even if the message had one', () => {
    const d = applyPresence(online, { state: 'offline', tsMs: 3000, firmwareVersion: '9' }, W);
    expect(d).toMatchObject({ kind: 'apply', changes: {} });
  });

  it('repeat online after the window only moves last_seen', () => {
    expect(applyPresence(online, { state: 'online', tsMs: 1000 + W }, W)).toEqual({
      kind: 'apply',
      connectivity: 'online',
      transition: null,
      lastSeenMs: 1000 + W,
      lastPresenceMs: 1000 + W,
      changes: {},
    });
  });

  it('online with new firmware inside the window updates without a transition', () => {
    expect(
      applyPresence(online, { state: 'online', tsMs: 2000, firmwareVersion: '2.0.0' }, W),
    ).toEqual({
      kind: 'apply',
      connectivity: 'online',
      transition: null,
      lastSeenMs: 1000,
      lastPresenceMs: 2000,
      changes: { firmware_version: '2.0.0' },
    });
  });

  it('a presence at the same timestamp is not out of order', () => {
    const d = applyPresence(online, { state: 'offline', tsMs: 1000 }, W);
    expect(d).toMatchObject({ kind: 'apply', transition: 'disconnected' });
  });

  it('offline from unknown is a disconnect transition', () => {
    const d = applyPresence(base, { state: 'offline', tsMs: 10 }, W);
    expect(d).toMatchObject({ kind: 'apply', transition: 'disconnected', lastSeenMs: 10 });
  });
});

describe('foldPresence', () => {
  it('decides each input on the device as the previous one left it', () => {
    const fold = foldPresence(
      base,
      [
        { state: 'online', tsMs: 1000, firmwareVersion: '1.0.0', hardwareModel: 'rev-a' },
        { state: 'offline', tsMs: 2000 },
        { state: 'online', tsMs: 1500 },
        { state: 'online', tsMs: 3000, firmwareVersion: '1.1.0' },
        { state: 'online', tsMs: 3001 },
      ],
      W,
    );
    expect(fold.outcomes).toEqual(['applied', 'applied', 'out_of_order', 'applied', 'coalesced']);
    expect(fold.applied).toEqual([
      {
        index: 0,
        transition: 'connected',
        changes: { firmware_version: '1.0.0', hardware_model: 'rev-a' },
        firmwareVersion: '1.0.0',
      },
      { index: 1, transition: 'disconnected', changes: {}, firmwareVersion: '1.0.0' },
      {
        index: 3,
        transition: 'connected',
        changes: { firmware_version: '1.1.0' },
        firmwareVersion: '1.1.0',
      },
    ]);
    expect(fold.final).toEqual({
      connectivity: 'online',
      lastSeenMs: 3000,
      lastPresenceMs: 3000,
      firmwareVersion: '1.1.0',
      hardwareModel: 'rev-a',
    });
    expect(fold.touched).toBe(true);
  });

  it('a last_seen move alone applies without touching the device', () => {
    const online: PresenceSnapshot = { ...base, connectivity: 'online', lastSeenMs: 0 };
    const fold = foldPresence(online, [{ state: 'online', tsMs: W }], W);
    expect(fold.outcomes).toEqual(['applied']);
    expect(fold.applied).toEqual([
      { index: 0, transition: null, changes: {}, firmwareVersion: null },
    ]);
    expect(fold.final).toMatchObject({ lastSeenMs: W, lastPresenceMs: W });
    expect(fold.touched).toBe(false);
  });

  it('nothing applied leaves the snapshot as it was', () => {
    const online: PresenceSnapshot = { ...base, connectivity: 'online', lastPresenceMs: 5000 };
    const fold = foldPresence(online, [{ state: 'offline', tsMs: 10 }], W);
    expect(fold).toEqual({
      outcomes: ['out_of_order'],
      applied: [],
      final: online,
      touched: false,
    });
  });
});
