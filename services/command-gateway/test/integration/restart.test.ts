// The gateway stops with commands in flight (queued, handed over, answered while it was down,
// silent) and a new instance on the same schema brings every one to a final state.
import { type Harness, startHarness } from './command.harness';

jest.setTimeout(120_000);

const FINAL = ['succeeded', 'failed', 'rejected', 'timed_out', 'expired', 'dead_lettered'];

describe('restart with commands in flight', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness('restart', { RESEND_BASE_MS: 500 });
    await h.register(['r0', 'r1', 'r2']);
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('every command reaches a final state after the restart', async () => {
    await h.connect('r0');
    await h.connect('r1', () => undefined); // silent: only a time-out ends its commands
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      ids.push((await h.create({ device_id: 'r0', name: 'ok', params: { i } })).command.command_id);
    }
    ids.push(
      (await h.create({ device_id: 'r1', name: 'silent', timeout_s: 2 })).command.command_id,
    );
    // Queued for an offline device, released after the restart.
    ids.push((await h.create({ device_id: 'r2', name: 'ok' })).command.command_id);
    await h.gateway.stop();
    await h.connect('r2');
    await h.restartGateway();
    const states = await Promise.all(ids.map((id) => h.until(id, (c) => FINAL.includes(c.status))));
    expect(states.filter((c) => c.status === 'succeeded')).toHaveLength(21);
    expect(states.find((c) => c.device_id === 'r1')?.status).toBe('timed_out');
  });
});
