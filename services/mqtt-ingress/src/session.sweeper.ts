// Keeps the replica's entry of the session ledger fresh and retires the sessions nobody will
// open again (domain/session-ledger.ts): its own earlier ones at once, another replica's once
// that replica's entry went stale for longer than MQTT_SESSION_RETIRE_AFTER_MS. Another
// replica's entry is claimed with a compare-and-set first (and the claim kept fresh while the
// sessions are retired), so one replica retires it; if its owner comes back meanwhile, the
// owner's write wins, its connections take the sessions back, and the claim is dropped.
import { type Logger } from '@drover/observability';
import {
  type LedgerEntry,
  type LedgerSelf,
  type LedgerSession,
  planSweep,
  staleSessions,
  startEntry,
  type StoredEntry,
} from './domain/session-ledger';
import { type SessionLedger } from './adapters/nats/session-ledger.kv';
import { type Retired } from './adapters/mqtt/session.retirer';

/** Sessions of a stale entry retired at once. */
const RETIRE_CONCURRENCY = 8;

/** What {@link recordSessions} wrote, for the sweeper and the connections. */
export interface Recorded {
  ledger: SessionLedger;
  /** The replica's entry. */
  entry: LedgerEntry;
  /** Filters a resumed session no longer takes, by client id (see startEntry). */
  drop: Map<string, string[]>;
}

/**
 * Writes the replica's entry at start: the sessions it opens, and to retire (by the sweeper) the
 * earlier ones it no longer opens.
 */
export async function recordSessions(opts: {
  ledger: SessionLedger;
  self: LedgerSelf;
  sessions: LedgerSession[];
  logger: Logger;
}): Promise<Recorded> {
  const { ledger, self, logger } = opts;
  const prev = await ledger.read(self.member);
  const plan = startEntry(prev?.entry, self, opts.sessions, Date.now());
  if (plan.foreign.length > 0) {
    logger.warn(
      { event: 'ingress.sessions_other_prefix', client_ids: plan.foreign.map((f) => f.client_id) },
      'earlier sessions of this client id under another MQTT_TOPIC_PREFIX are not retired',
    );
  }
  await ledger.put(plan.entry);
  return { ledger, entry: plan.entry, drop: plan.drop };
}

/** Options of {@link startSessionSweeper}. */
export interface SweeperOptions {
  ledger: SessionLedger;
  self: LedgerSelf;
  /** The replica's entry as written at start (its `retiring` shrinks as they are retired). */
  entry: LedgerEntry;
  retireAfterMs: number;
  /** Retires one session (session.retirer.ts); `signal` aborts when the sweeper stops. */
  retire(session: LedgerSession, signal: AbortSignal): Promise<Retired>;
  /** Counts a retired session and the messages it held. */
  onRetired(reason: 'own' | 'stale', retired: Retired): void;
  logger: Logger;
  now?: () => number;
}

/** A running sweeper. */
export interface SessionSweeper {
  /** Runs one sweep now (after the one under way, if any). */
  sweep(): Promise<void>;
  /** Stops the heartbeats and sweeps; a retirement under way stops, leaving the rest queued. */
  stop(): Promise<void>;
}

/** Starts the heartbeats (every fifth of the retire delay) and the sweeps (every half). */
export function startSessionSweeper(opts: SweeperOptions): SessionSweeper {
  const now = opts.now ?? Date.now;
  const { ledger, logger, self } = opts;
  const entry = opts.entry;
  const abort = new AbortController();
  let running: Promise<void> = Promise.resolve();
  const warn = (event: string, err: unknown) =>
    logger.warn({ event, err: String(err) }, 'session ledger');

  const heartbeat = async () => {
    entry.at = now();
    await ledger.put(entry);
  };

  const retireAll = async (
    sessions: LedgerSession[],
    reason: 'own' | 'stale',
    onDone: (s: LedgerSession) => Promise<void>,
    keepGoing: () => Promise<boolean> = async () => true,
  ): Promise<boolean> => {
    let next = 0;
    let ok = true;
    const worker = async () => {
      while (next < sessions.length && ok && !abort.signal.aborted) {
        const session = sessions[next] as LedgerSession;
        next += 1;
        if (!(await keepGoing())) {
          ok = false;
          return;
        }
        let retired: Retired;
        try {
          retired = await opts.retire(session, abort.signal);
        } catch (err) {
          // Taken over mid-way (its owner is back), or the broker unreachable: next sweep.
          warn('ingress.retire_failed', err);
          ok = false;
          return;
        }
        if (!retired.complete) {
          ok = false;
          return;
        }
        opts.onRetired(reason, retired);
        logger.info(
          { event: 'ingress.session_retired', client_id: session.client_id, reason, ...retired },
          'session retired',
        );
        await onDone(session);
      }
    };
    await Promise.all(Array.from({ length: RETIRE_CONCURRENCY }, worker));
    return ok && !abort.signal.aborted;
  };

  const retireOwn = async (sessions: LedgerSession[]) => {
    await retireAll(sessions, 'own', async (done) => {
      entry.retiring = entry.retiring.filter((s) => s.client_id !== done.client_id);
      await heartbeat();
    });
  };

  const retireStale = async (stored: StoredEntry) => {
    const claim: LedgerEntry = { ...stored.entry, at: now(), claimed_by: self.member };
    let revision = await ledger.update(claim, stored.revision);
    if (revision === null) return; // its owner, or another replica, wrote it first
    logger.info(
      { event: 'ingress.sessions_claimed', member: claim.member, since: stored.entry.at },
      'retiring the sessions of a replica that is gone',
    );
    // The claim is rewritten (compare-and-set) before each session and every heartbeat: it
    // stays fresh, so no other replica takes it for stale, and a write of its owner, back
    // again (it writes its entry before it connects), makes the next rewrite fail.
    let claimOp: Promise<void> = Promise.resolve();
    const refresh = (): Promise<void> =>
      (claimOp = claimOp
        .then(async () => {
          if (revision === null) return;
          claim.at = now();
          revision = await ledger.update(claim, revision);
        })
        .catch((err: unknown) => warn('ingress.claim_refresh_failed', err)));
    const keep = setInterval(() => void refresh(), heartbeatMs(opts.retireAfterMs));
    try {
      const stands = async () => {
        await refresh();
        return revision !== null;
      };
      const done = await retireAll(staleSessions(stored.entry), 'stale', async () => {}, stands);
      await claimOp;
      if (done && revision !== null) await ledger.remove(claim.member, revision);
      if (!done) {
        logger.info(
          { event: 'ingress.sessions_claim_dropped', member: claim.member },
          'stopped retiring: the replica came back, or this one is stopping',
        );
      }
    } finally {
      clearInterval(keep);
    }
  };

  const pass = async () => {
    const tasks = planSweep(await ledger.list(), self, now(), opts.retireAfterMs);
    for (const task of tasks) {
      if (abort.signal.aborted) return;
      if (task.kind === 'own') await retireOwn(task.sessions);
      else await retireStale(task.stored);
    }
  };

  const sweep = () => {
    running = running.then(pass).catch((err: unknown) => warn('ingress.sweep_failed', err));
    return running;
  };

  const beat = setInterval(() => {
    heartbeat().catch((err: unknown) => warn('ingress.heartbeat_failed', err));
  }, heartbeatMs(opts.retireAfterMs));
  // Sweeps at jittered intervals, so replicas started together do not sweep together.
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (abort.signal.aborted) return;
    const half = opts.retireAfterMs / 2;
    timer = setTimeout(
      () => {
        void sweep().then(schedule);
      },
      half / 2 + Math.random() * half,
    );
  };
  void sweep().then(schedule);

  return {
    sweep,
    async stop() {
      abort.abort();
      clearInterval(beat);
      clearTimeout(timer);
      await running;
    },
  };
}

/** Heartbeat interval: a fifth of the retire delay. */
export function heartbeatMs(retireAfterMs: number): number {
  return Math.max(200, Math.floor(retireAfterMs / 5));
}
