// Long polls on commands (`GET /commands/{id}?wait_s=`) and fan-outs (`GET /fanouts/{id}?
// wait_s=`): a request waits until its command is final, or every command of its fan-out is,
// instead of polling. Core subscriptions to the final command events of every tenant (one per
// final state, so the other transitions never reach the gateway) wake the waiters of a command,
// and of its fan-out, when a final event of it passes; the waiter then reads again (the event
// is only the wake-up, the answer is always a fresh read). A fan-out's waiter reads at most
// every `FANOUT_READ_GAP_MS`: a fan-out of thousands ends in as many events. The subscriptions
// are opened by the first waiter and closed once nobody has waited for `lingerMs`. An event missed
// during a reconnect costs at most the wait: every waiter reads again after a reconnect and at
// its deadline.
import { type Bus } from '@drover/bus';
import { eventFilter, FINAL_COMMAND_STATUSES, parseEventSubject } from '@drover/contracts';
import { Events, type Msg, type NatsError, type Subscription } from 'nats';

/** Waits for commands to become final. */
export interface CommandWaiters {
  /**
   * Reads the command with `read` until it is final, `waitMs` has passed or the waiters stop;
   * returns the last read.
   */
  waitFinal<T extends { status: string }>(
    tenant: string,
    commandId: string,
    waitMs: number,
    read: () => Promise<T>,
  ): Promise<T>;
  /**
   * Reads the fan-out with `read` until it is `done` (every command final), `waitMs` has passed
   * or the waiters stop; returns the last read.
   */
  waitFanoutDone<T extends { done: boolean }>(
    tenant: string,
    fanoutId: string,
    waitMs: number,
    read: () => Promise<T>,
  ): Promise<T>;
  /** Closes the subscription; waiting requests answer with a last read. */
  stop(): void;
}

/** Least time between two reads of one fan-out's waiter. */
export const FANOUT_READ_GAP_MS = 250;

const FINAL = new Set<string>(FINAL_COMMAND_STATUSES);
const commandKey = (tenant: string, commandId: string) => `c\u0000${tenant}\u0000${commandId}`;
const fanoutKey = (tenant: string, fanoutId: string) => `f\u0000${tenant}\u0000${fanoutId}`;

/** Command waiters on the bus's command events. */
export function createCommandWaiters(bus: Bus, opts: { lingerMs?: number } = {}): CommandWaiters {
  const lingerMs = opts.lingerMs ?? 30_000;
  // Per command or fan-out, the wake-up of each request waiting for it.
  const waiters = new Map<string, Set<() => void>>();
  let subs: Subscription[] = [];
  let live: Promise<void> | null = null;
  let linger: NodeJS.Timeout | null = null;
  let stopped = false;
  const wakeAll = (): void => {
    for (const set of waiters.values()) for (const wake of set) wake();
  };
  const close = (): void => {
    for (const sub of subs) sub.unsubscribe();
    subs = [];
    live = null;
  };

  const open = (): Promise<void> => {
    if (linger !== null) clearTimeout(linger);
    linger = null;
    if (live !== null) return live;
    watchReconnects();
    const callback = (err: NatsError | null, msg: Msg): void => {
      if (err) {
        // A subscription is gone: the next waiter opens new ones; these read again.
        close();
        wakeAll();
        return;
      }
      const subject = parseEventSubject(bus.naming, msg.subject);
      const ids = idsOf(msg.data);
      if (subject === null || ids === undefined) return;
      const keys = [commandKey(subject.tenant, ids.commandId)];
      if (ids.fanoutId !== undefined) keys.push(fanoutKey(subject.tenant, ids.fanoutId));
      for (const k of keys) for (const wake of waiters.get(k) ?? []) wake();
    };
    subs = FINAL_COMMAND_STATUSES.map((event) =>
      bus.nc.subscribe(eventFilter(bus.naming, { aggregate: 'command', event }), { callback }),
    );
    // Once a flush has come back the server has the subscriptions: a later event reaches them.
    // A failed flush leaves nothing behind: the next waiter tries again.
    live = bus.nc.flush().catch((err: unknown) => {
      close();
      throw err;
    });
    return live;
  };
  const closeSoon = (): void => {
    if (waiters.size > 0 || linger !== null || subs.length === 0) return;
    linger = setTimeout(() => {
      linger = null;
      if (waiters.size === 0) close();
    }, lingerMs);
    linger.unref();
  };

  // Reconnects are watched from the first wait on (building the routes touches no connection).
  let watching = false;
  const watchReconnects = (): void => {
    if (watching) return;
    watching = true;
    void (async () => {
      for await (const status of bus.nc.status()) {
        if (stopped) break;
        if (status.type === Events.Reconnect) wakeAll();
      }
    })().catch((err: unknown) => {
      bus.logger.warn({ event: 'commands.waiters_status_failed', err: String(err) }, 'status');
    });
  };

  const waitUntil = async <T>(
    k: string,
    waitMs: number,
    read: () => Promise<T>,
    done: (value: T) => boolean,
    readGapMs: number,
  ): Promise<T> => {
    if (waitMs <= 0 || stopped) return read();
    const deadline = Date.now() + waitMs;
    const set = waiters.get(k) ?? new Set<() => void>();
    waiters.set(k, set);
    // `woken` keeps a wake-up that comes while a read is in flight.
    let woken = false;
    let resume: (() => void) | null = null;
    const wake = (): void => {
      woken = true;
      resume?.();
    };
    set.add(wake);
    try {
      try {
        await open();
      } catch (err) {
        // No subscription (NATS is away): answer with the state now rather than an error.
        bus.logger.warn({ event: 'commands.wait_unavailable', err: String(err) }, 'no long poll');
        return await read();
      }
      // Set when the deadline's timer fired: the read after it is the answer (a timer may fire
      // a moment before the clock reads the deadline).
      let expired = false;
      for (;;) {
        woken = false;
        const value = await read();
        const readAt = Date.now();
        const left = deadline - readAt;
        if (done(value) || expired || left <= 0 || stopped) return value;
        if (!woken) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              expired = true;
              resolve();
            }, left);
            resume = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          resume = null;
        }
        // Wake-ups in the gap are kept (`woken`) and answered by the read after it.
        const gap = Math.min(readAt + readGapMs, deadline) - Date.now();
        if (gap > 0 && !expired && !stopped) await new Promise((r) => setTimeout(r, gap));
      }
    } finally {
      set.delete(wake);
      if (set.size === 0) waiters.delete(k);
      closeSoon();
    }
  };

  return {
    waitFinal: (tenant, commandId, waitMs, read) =>
      waitUntil(commandKey(tenant, commandId), waitMs, read, (c) => FINAL.has(c.status), 0),
    waitFanoutDone: (tenant, fanoutId, waitMs, read) =>
      waitUntil(fanoutKey(tenant, fanoutId), waitMs, read, (f) => f.done, FANOUT_READ_GAP_MS),
    stop() {
      stopped = true;
      if (linger !== null) clearTimeout(linger);
      close();
      wakeAll();
    },
  };
}

/** The `data.command_id` (and `data.fanout_id`) of a command event; undefined without an id. */
function idsOf(data: Uint8Array): { commandId: string; fanoutId?: string } | undefined {
  try {
    const event = JSON.parse(new TextDecoder().decode(data)) as {
      data?: { command_id?: unknown; fanout_id?: unknown };
    };
    const id = event.data?.command_id;
    const fanout = event.data?.fanout_id;
    if (typeof id !== 'string') return undefined;
    return typeof fanout === 'string' ? { commandId: id, fanoutId: fanout } : { commandId: id };
  } catch (err) {
    void err; // an unreadable event wakes nobody: its waiters read again at their deadline
    return undefined;
  }
}
