// The long-poll waiters against the real NATS: a final event of the command wakes its waiter
// (which reads again), events of other commands and non-final ones do not, the deadline answers
// with the last read, and stop() releases every waiter. A fan-out's waiter wakes at the final
// events of its commands and reads at most every FANOUT_READ_GAP_MS.
import { type Bus } from '@drover/bus';
import { cleanupNamespace, testNamespace, withTestBus } from '@drover/testing';
import { createCommandWaiters, FANOUT_READ_GAP_MS } from '../../src/adapters/nats/command-waiters';

describe('command waiters', () => {
  const ns = testNamespace('waiters');
  let bus: Bus;
  beforeAll(async () => {
    bus = await withTestBus(ns);
  });
  afterAll(async () => {
    await cleanupNamespace(ns, { bus, redisUrl: null });
    await bus.close();
  });

  const event = (tenant: string, type: string, commandId: string, fanoutId?: string) =>
    bus.nc.publish(
      bus.naming.subject(`iot.evt.${tenant}.command.${type}`),
      JSON.stringify({
        type: `drover.command.${type}.v1`,
        data: { command_id: commandId, ...(fanoutId !== undefined && { fanout_id: fanoutId }) },
      }),
    );

  /** A command whose reads answer `states` in turn (the last one repeats); counts its reads. */
  function command(states: string[]) {
    let reads = 0;
    let firstRead: () => void = () => undefined;
    const readOnce = new Promise<void>((resolve) => {
      firstRead = resolve;
    });
    const read = async () => {
      const status = states[Math.min(reads, states.length - 1)]!;
      reads++;
      firstRead();
      return { status };
    };
    return { read, readOnce, reads: () => reads };
  }

  it('wakes the waiter of a command at its final event, and no other', async () => {
    const waiters = createCommandWaiters(bus, { lingerMs: 50 });
    try {
      const c = command(['queued', 'succeeded']);
      const t0 = Date.now();
      const answer = waiters.waitFinal('acme', 'c1', 20_000, c.read);
      await c.readOnce;
      // Not its command, not its tenant, not final: it keeps waiting.
      event('acme', 'succeeded', 'c2');
      event('other', 'succeeded', 'c1');
      event('acme', 'accepted', 'c1');
      await bus.nc.flush();
      expect(c.reads()).toBe(1);
      event('acme', 'succeeded', 'c1');
      expect(await answer).toEqual({ status: 'succeeded' });
      expect(c.reads()).toBe(2);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      waiters.stop();
    }
  });

  it('answers at the deadline with a last read; at once when final or not waiting', async () => {
    const waiters = createCommandWaiters(bus, { lingerMs: 50 });
    try {
      const pending = command(['sent']);
      const t0 = Date.now();
      expect(await waiters.waitFinal('acme', 'c3', 300, pending.read)).toEqual({ status: 'sent' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
      // Read again at the deadline: the answer is as fresh as it can be.
      expect(pending.reads()).toBe(2);

      const done = command(['expired']);
      expect(await waiters.waitFinal('acme', 'c4', 20_000, done.read)).toEqual({
        status: 'expired',
      });
      const now = command(['queued']);
      expect(await waiters.waitFinal('acme', 'c5', 0, now.read)).toEqual({ status: 'queued' });
    } finally {
      waiters.stop();
    }
  });

  it('releases every waiter when it stops', async () => {
    const waiters = createCommandWaiters(bus);
    const c = command(['queued']);
    const answer = waiters.waitFinal('acme', 'c6', 20_000, c.read);
    await c.readOnce;
    // The read's answer is handled in microtasks: after this turn the waiter is waiting.
    await new Promise((resolve) => setImmediate(resolve));
    waiters.stop();
    expect(await answer).toEqual({ status: 'queued' });
    expect(c.reads()).toBe(2);
  });

  it('answers at once with a read when it cannot subscribe (connection closed)', async () => {
    const gone = await withTestBus(`${ns}x`);
    await gone.close();
    const waiters = createCommandWaiters(gone);
    try {
      const c = command(['queued']);
      const t0 = Date.now();
      expect(await waiters.waitFinal('acme', 'c7', 20_000, c.read)).toEqual({ status: 'queued' });
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(c.reads()).toBe(1);
    } finally {
      waiters.stop();
    }
  });

  it('wakes a fan-out waiter at the final events of its commands, reading at most every gap', async () => {
    const waiters = createCommandWaiters(bus, { lingerMs: 50 });
    try {
      const readAt: number[] = [];
      const readNo: (() => void)[] = [];
      const after = (n: number) => new Promise<void>((resolve) => (readNo[n] = resolve));
      const [first, second] = [after(1), after(2)];
      // Done at the third read.
      const read = async () => {
        readAt.push(Date.now());
        readNo[readAt.length]?.();
        return { done: readAt.length >= 3 };
      };
      const t0 = Date.now();
      const answer = waiters.waitFanoutDone('acme', 'f1', 20_000, read);
      await first;
      // Another fan-out's, another tenant's, a non-final one: it keeps waiting.
      event('acme', 'succeeded', 'c10', 'f2');
      event('other', 'succeeded', 'c10', 'f1');
      event('acme', 'sent', 'c11', 'f1');
      await bus.nc.flush();
      expect(readAt).toHaveLength(1);
      // Bursts of its commands' final events: one read after each, spaced by the gap.
      const burst = async (from: number) => {
        for (let i = 0; i < 10; i++)
          event('acme', i % 2 ? 'failed' : 'succeeded', `c${from + i}`, 'f1');
        await bus.nc.flush();
      };
      await burst(20);
      await second;
      await burst(30);
      expect(await answer).toEqual({ done: true });
      expect(readAt).toHaveLength(3);
      expect(readAt[1]! - readAt[0]!).toBeGreaterThanOrEqual(FANOUT_READ_GAP_MS - 5);
      expect(readAt[2]! - readAt[1]!).toBeGreaterThanOrEqual(FANOUT_READ_GAP_MS - 5);
      expect(Date.now() - t0).toBeLessThan(10_000);
      // A command waiter of the same id is another waiter: a fan-out's id never wakes it.
      const c = command(['queued', 'succeeded']);
      const t1 = Date.now();
      const cmd = waiters.waitFinal('acme', 'f3', 300, c.read);
      await c.readOnce;
      event('acme', 'succeeded', 'c40', 'f3');
      expect(await cmd).toEqual({ status: 'succeeded' }); // its deadline's read
      expect(c.reads()).toBe(2);
      // Not woken by the event (that would have read again at once): it waited its deadline.
      expect(Date.now() - t1).toBeGreaterThanOrEqual(300);
    } finally {
      waiters.stop();
    }
  });
});
