import {
  ENDING_COMMAND_OUTCOMES,
  MAX_ROLLBACK_RESENDS,
  applyDeviceReport,
  type DeviceProgress,
  type DeviceReport,
  shownStatus,
} from '../../src/domain/rollout-device';

const V = '2.0.0';
const updating: DeviceProgress = {
  status: 'updating',
  rollbackStatus: null,
  updateState: null,
  reportedSucceeded: false,
  online: null,
  wentOffline: false,
  runningVersion: '1.0.0',
  error: null,
  rollbackResends: 0,
};

describe('device progress', () => {
  it('succeeds only when succeeded was reported AND the device is back online on the new version', () => {
    let d = applyDeviceReport(updating, { kind: 'update_status', state: 'downloading' }, V);
    expect(d).toMatchObject({ status: 'updating', updateState: 'downloading' });
    d = applyDeviceReport(d, { kind: 'presence', online: false }, V);
    expect(d).toMatchObject({ status: 'updating', online: false, wentOffline: true });
    d = applyDeviceReport(d, { kind: 'update_status', state: 'succeeded' }, V);
    expect(d.status).toBe('updating');
    d = applyDeviceReport(d, { kind: 'presence', online: true, firmwareVersion: V }, V);
    expect(d.status).toBe('succeeded');
  });

  it('keeps the shown update state from moving back when reports arrive out of order', () => {
    let d = applyDeviceReport(updating, { kind: 'update_status', state: 'installing' }, V);
    d = applyDeviceReport(d, { kind: 'update_status', state: 'downloading' }, V);
    expect(d.updateState).toBe('installing');
    d = applyDeviceReport(d, { kind: 'update_status', state: 'succeeded' }, V);
    d = applyDeviceReport(d, { kind: 'update_status', state: 'rebooting' }, V);
    expect(d.updateState).toBe('succeeded');
    // A final state replaces another final one (a rollback after success is shown).
    d = applyDeviceReport(d, { kind: 'update_status', state: 'rolled_back' }, V);
    expect(d.updateState).toBe('rolled_back');
    // An unknown state ranks with the final ones.
    d = applyDeviceReport(d, { kind: 'update_status', state: 'bricked' }, V);
    expect(d.updateState).toBe('bricked');
  });

  it('succeeds in the other order too (back online first, then succeeded)', () => {
    let d = applyDeviceReport(updating, { kind: 'presence', online: true, firmwareVersion: V }, V);
    expect(d.status).toBe('updating');
    d = applyDeviceReport(d, { kind: 'update_status', state: 'succeeded' }, V);
    expect(d.status).toBe('succeeded');
  });

  it('fails on a failed or rolled_back report', () => {
    expect(
      applyDeviceReport(updating, { kind: 'update_status', state: 'failed', error: 'flash' }, V),
    ).toMatchObject({ status: 'failed', error: 'flash' });
    expect(
      applyDeviceReport(updating, { kind: 'update_status', state: 'rolled_back' }, V),
    ).toMatchObject({ status: 'failed', error: 'device reported rolled_back' });
  });

  it('at the deadline: confirmed → succeeded, offline → offline, otherwise failed', () => {
    const confirmed = { ...updating, reportedSucceeded: true, online: true, runningVersion: V };
    expect(applyDeviceReport(confirmed, { kind: 'deadline' }, V).status).toBe('succeeded');
    expect(
      applyDeviceReport({ ...updating, online: false, wentOffline: true }, { kind: 'deadline' }, V),
    ).toMatchObject({ status: 'offline' });
    expect(applyDeviceReport(updating, { kind: 'deadline' }, V)).toMatchObject({
      status: 'failed',
      error: 'timeout',
    });
    const neverBack = { ...updating, reportedSucceeded: true, online: true };
    expect(applyDeviceReport(neverBack, { kind: 'deadline' }, V)).toMatchObject({
      status: 'failed',
      error: 'reported succeeded but did not come back on 2.0.0',
    });
  });

  it('an offline device that comes back on the new version after succeeding succeeds', () => {
    const off = { ...updating, status: 'offline' as const, reportedSucceeded: true, online: false };
    expect(
      applyDeviceReport(off, { kind: 'presence', online: true, firmwareVersion: V }, V).status,
    ).toBe('succeeded');
  });

  it('finished and untouched devices only record what they report', () => {
    for (const status of ['succeeded', 'failed', 'pending', 'skipped'] as const) {
      const d = applyDeviceReport({ ...updating, status }, { kind: 'presence', online: false }, V);
      expect(d).toMatchObject({ status, online: false, wentOffline: false });
      expect(applyDeviceReport({ ...updating, status }, { kind: 'deadline' }, V).status).toBe(
        status,
      );
    }
  });

  it('follows the rollback to rolled_back or rollback_failed', () => {
    const rb = { ...updating, status: 'failed' as const, rollbackStatus: 'rolling_back' as const };
    expect(shownStatus(rb)).toBe('rolling_back');
    expect(
      applyDeviceReport(rb, { kind: 'update_status', state: 'succeeded' }, V).rollbackStatus,
    ).toBe('rolling_back');
    expect(
      applyDeviceReport(rb, { kind: 'update_status', state: 'rolled_back' }, V).rollbackStatus,
    ).toBe('rolled_back');
    expect(applyDeviceReport(rb, { kind: 'deadline' }, V)).toMatchObject({
      rollbackStatus: 'rollback_failed',
      error: 'rollback not confirmed in time',
    });
    expect(applyDeviceReport(rb, { kind: 'presence', online: true }, V).rollbackStatus).toBe(
      'rolling_back',
    );
    const done = { ...rb, rollbackStatus: 'rolled_back' as const };
    expect(applyDeviceReport(done, { kind: 'deadline' }, V)).toEqual(done);
    expect(shownStatus(updating)).toBe('updating');
  });

  it('sends a rollback again when the device shows it is idle and still on the deployed version', () => {
    const rb = { ...updating, status: 'failed' as const, rollbackStatus: 'rolling_back' as const };
    // It ended the update it was busy with when the rollback came (and was rejected) ...
    for (const state of ['succeeded', 'failed']) {
      const d = applyDeviceReport(rb, { kind: 'update_status', state }, V);
      expect(d).toMatchObject({ rollbackStatus: 'rolling_back', resendRollback: true });
    }
    // ... or it is back online on the deployed version.
    const online = { kind: 'presence' as const, online: true, firmwareVersion: V };
    expect(applyDeviceReport(rb, online, V).resendRollback).toBe(true);
    // Not for progress of an operation, another version, going offline, or past the cap.
    const still = [
      applyDeviceReport(rb, { kind: 'update_status', state: 'installing' }, V),
      applyDeviceReport(rb, { ...online, firmwareVersion: '1.0.0' }, V),
      applyDeviceReport(rb, { kind: 'presence', online: false, firmwareVersion: V }, V),
      applyDeviceReport({ ...rb, rollbackResends: MAX_ROLLBACK_RESENDS }, online, V),
    ];
    for (const d of still) expect(d.resendRollback).toBeUndefined();
    // A rollback already over is not sent again.
    const done = { ...rb, rollbackStatus: 'rolled_back' as const };
    expect(applyDeviceReport(done, online, V).resendRollback).toBeUndefined();
  });

  it('ends an update when its command is refused, failed, dead-lettered or cancelled', () => {
    const cmd = (outcome: (typeof ENDING_COMMAND_OUTCOMES)[number], error?: string) =>
      ({
        kind: 'command',
        command: 'update',
        outcome,
        ...(error !== undefined && { error }),
      }) as DeviceReport;
    expect(applyDeviceReport(updating, cmd('rejected', 'battery low'), V)).toMatchObject({
      status: 'failed',
      error: 'firmware.update rejected: battery low',
    });
    expect(applyDeviceReport(updating, cmd('dead_lettered'), V)).toMatchObject({
      status: 'failed',
      error: 'firmware.update dead lettered',
    });
    for (const outcome of ENDING_COMMAND_OUTCOMES) {
      expect(applyDeviceReport(updating, cmd(outcome), V).status).toBe(
        outcome === 'cancelled' ? 'skipped' : 'failed',
      );
    }
    // Cancelled: an operator took the device out of the rollout.
    expect(applyDeviceReport(updating, cmd('cancelled', 'device retired'), V)).toMatchObject({
      status: 'skipped',
      error: 'firmware.update cancelled: device retired',
    });
    // Left to its deadline: it said it succeeded, or the deadline already judged it offline.
    const said = { ...updating, reportedSucceeded: true };
    expect(applyDeviceReport(said, cmd('failed'), V)).toEqual(said);
    const offline = { ...updating, status: 'offline' as const, error: 'offline since its update' };
    expect(applyDeviceReport(offline, cmd('cancelled'), V)).toEqual(offline);
    // A rollback command's outcome does not touch the update; a finished device stays.
    const rollbackCmd = { ...cmd('failed'), command: 'rollback' } as DeviceReport;
    expect(applyDeviceReport(updating, rollbackCmd, V)).toEqual(updating);
    const done = { ...updating, status: 'succeeded' as const };
    expect(applyDeviceReport(done, cmd('rejected'), V)).toEqual(done);
  });

  it('fails a rollback whose command failed or was cancelled; a refusal waits', () => {
    const rb = { ...updating, status: 'failed' as const, rollbackStatus: 'rolling_back' as const };
    const cmd = (command: 'update' | 'rollback', outcome: 'rejected' | 'cancelled' | 'failed') =>
      ({ kind: 'command', command, outcome, error: 'operator' }) as DeviceReport;
    expect(applyDeviceReport(rb, cmd('rollback', 'cancelled'), V)).toMatchObject({
      rollbackStatus: 'rollback_failed',
      error: 'firmware.rollback cancelled: operator',
    });
    expect(applyDeviceReport(rb, cmd('rollback', 'failed'), V).rollbackStatus).toBe(
      'rollback_failed',
    );
    // Rejected: the device is busy; it is sent again once it shows it is idle.
    expect(applyDeviceReport(rb, cmd('rollback', 'rejected'), V)).toEqual(rb);
    // The update's command ending late does not touch the rollback.
    expect(applyDeviceReport(rb, cmd('update', 'cancelled'), V)).toEqual(rb);
  });
});
