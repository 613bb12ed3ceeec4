// The ledger of the ingress's persistent broker sessions: which MQTT client ids each replica
// opened, with their subscriptions. A broker keeps giving a persistent session its turn of a
// shared subscription while nobody is connected with its client id (docs/telemetry.md), so a
// session nobody will open again strands its share of the device traffic: a replica that
// crashed and was scaled away, a connection count lowered, a role changed. The ledger lets the
// replicas find such sessions and retire them: take what they hold, give up their
// subscriptions. Each replica keeps its entry fresh while it runs; an entry that went stale for
// longer than the retire delay belongs to a replica that is gone.

/** A persistent session of the ingress: its client id and its subscription filters. */
export interface LedgerSession {
  client_id: string;
  filters: string[];
}

/** A replica's entry, keyed by its member name (its MQTT_CLIENT_ID). */
export interface LedgerEntry {
  member: string;
  /** MQTT_TOPIC_PREFIX: only a replica of the same prefix can handle these sessions' traffic. */
  prefix: string;
  /** The sessions it opens. */
  sessions: LedgerSession[];
  /** Sessions it opened before and no longer opens: its own to retire. */
  retiring: LedgerSession[];
  /** When the entry was last written (epoch ms): heartbeats while the replica runs. */
  at: number;
  /** The replica retiring this entry's sessions, when another one claimed it. */
  claimed_by?: string;
}

/** An entry as stored, with the revision a compare-and-set needs. */
export interface StoredEntry {
  entry: LedgerEntry;
  revision: number;
}

/** What a replica is: its member name and topic prefix. */
export interface LedgerSelf {
  member: string;
  prefix: string;
}

/** The entry a replica writes at start, and what it must do about its earlier sessions. */
export interface StartPlan {
  entry: LedgerEntry;
  /**
   * Filters an earlier run subscribed that a session resuming now no longer takes (a share
   * group renamed, say), by client id: the session unsubscribes them when it resumes.
   */
  drop: Map<string, string[]>;
  /** Earlier sessions under another topic prefix: this replica cannot handle their traffic. */
  foreign: LedgerSession[];
}

/**
 * The entry of `self` at start: the sessions it opens now, and to retire the earlier ones (of
 * the last entry, and those it had not finished retiring) it no longer opens.
 */
export function startEntry(
  prev: LedgerEntry | undefined,
  self: LedgerSelf,
  sessions: LedgerSession[],
  now: number,
): StartPlan {
  const current = new Map(sessions.map((s) => [s.client_id, s]));
  const drop = new Map<string, string[]>();
  const earlier = prev === undefined ? [] : [...prev.sessions, ...prev.retiring];
  const samePrefix = prev?.prefix === self.prefix;
  const retiring: LedgerSession[] = [];
  const foreign: LedgerSession[] = [];
  for (const old of earlier) {
    const resumed = current.get(old.client_id);
    if (resumed !== undefined) {
      const gone = old.filters.filter((f) => !resumed.filters.includes(f));
      if (gone.length > 0) drop.set(old.client_id, gone);
    } else if (!samePrefix) {
      foreign.push(old);
    } else if (!retiring.some((r) => r.client_id === old.client_id)) {
      retiring.push(old);
    }
  }
  const entry: LedgerEntry = {
    member: self.member,
    prefix: self.prefix,
    sessions,
    retiring,
    at: now,
  };
  return { entry, drop, foreign };
}

/** Work a sweep found: the replica's own sessions to retire, or another replica's stale entry. */
export type SweepTask =
  { kind: 'own'; sessions: LedgerSession[] } | { kind: 'stale'; stored: StoredEntry };

/**
 * What a sweep of the ledger retires: the replica's own sessions it no longer opens, and every
 * session of a replica of the same prefix whose entry was not written for over `retireAfterMs`
 * (a replica that runs rewrites it several times within that).
 */
export function planSweep(
  entries: readonly StoredEntry[],
  self: LedgerSelf,
  now: number,
  retireAfterMs: number,
): SweepTask[] {
  const tasks: SweepTask[] = [];
  for (const stored of entries) {
    const { entry } = stored;
    if (entry.member === self.member) {
      if (entry.retiring.length > 0) tasks.push({ kind: 'own', sessions: entry.retiring });
    } else if (entry.prefix === self.prefix && now - entry.at > retireAfterMs) {
      tasks.push({ kind: 'stale', stored });
    }
  }
  return tasks;
}

/** Every session of a stale entry: those it opened and those it had left to retire. */
export function staleSessions(entry: LedgerEntry): LedgerSession[] {
  const seen = new Set<string>();
  return [...entry.sessions, ...entry.retiring].filter((s) => {
    if (seen.has(s.client_id)) return false;
    seen.add(s.client_id);
    return true;
  });
}
