// Work that arrives in one event-loop turn, done as one batch: the shape of the hot paths that
// take many small messages (presence in a reconnect storm) and pay per statement, not per row.

/** One submitted item of a batch, with the callbacks that settle its caller's promise. */
export interface BatchEntry<I, O> {
  /** What was submitted. */
  item: I;
  /** Settles the caller with a result. */
  resolve(result: O): void;
  /** Settles the caller with an error. */
  reject(err: unknown): void;
}

/** Submits items to batches. */
export interface TurnBatcher<I, O> {
  /** Queues `item`; settles when its batch has settled it. */
  submit(item: I): Promise<O>;
}

/** Options of {@link createTurnBatcher}. */
export interface TurnBatcherOptions {
  /** Most items in one batch. */
  max: number;
  /** Batches running at once; the rest wait in the queue (and grow). */
  concurrency: number;
}

/**
 * Runs the items submitted in one event-loop turn (at most `max`) as one call of `run`, at most
 * `concurrency` calls at once; what arrives meanwhile forms the next batches. `run` settles
 * each entry; an entry it leaves unsettled when it rejects gets that error, and one left
 * unsettled when it resolves gets an error saying so (a bug, not a hang).
 */
export function createTurnBatcher<I, O>(
  run: (batch: BatchEntry<I, O>[]) => Promise<void>,
  opts: TurnBatcherOptions,
): TurnBatcher<I, O> {
  const max = Math.max(1, opts.max);
  const concurrency = Math.max(1, opts.concurrency);
  let queue: BatchEntry<I, O>[] = [];
  let running = 0;
  let scheduled = false;

  async function runBatch(batch: BatchEntry<I, O>[]): Promise<void> {
    let failure: unknown = null;
    try {
      await run(batch);
    } catch (err) {
      failure = err;
    }
    // Settling twice is a no-op: only the entries `run` left unsettled take this.
    const left = failure ?? new Error('batch left an item unsettled');
    for (const entry of batch) entry.reject(left);
  }

  function pump(): void {
    scheduled = false;
    while (queue.length > 0 && running < concurrency) {
      const batch = queue.slice(0, max);
      queue = queue.slice(max);
      running += 1;
      void runBatch(batch).finally(() => {
        running -= 1;
        if (queue.length > 0) schedule();
      });
    }
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(pump);
  }

  return {
    submit(item) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        schedule();
      });
    },
  };
}
