// Rows arrive one bus message at a time; Postgres wants thousands per statement. The writer
// cuts a batch on size or age, writes up to `concurrency` batches at once while the next one
// fills, and settles each row's promise after its batch committed (the bus acks then).

/** Options of `createBatchWriter`. */
export interface BatchWriterOptions<T> {
  /** Rows per batch at most. */
  maxRows: number;
  /** Longest wait of the first row of a batch. */
  maxWaitMs: number;
  /** Batches written at once. */
  concurrency: number;
  /** Writes one batch; resolves when committed. Retrying is its business. */
  write(rows: T[]): Promise<void>;
}

/** A running batch writer. */
export interface BatchWriter<T> {
  /** Queues a row; resolves when its batch committed, rejects if its write failed. */
  add(row: T): Promise<void>;
  /** Queues rows; resolves when every one is committed (they may span batches). */
  addMany(rows: readonly T[]): Promise<void>;
  /** Cuts the current batch and waits until every batch is settled. */
  flush(): Promise<void>;
}

interface Pending<T> {
  row: T;
  resolve(): void;
  reject(err: unknown): void;
}

/** Builds a writer. */
export function createBatchWriter<T>(opts: BatchWriterOptions<T>): BatchWriter<T> {
  let filling: Pending<T>[] = [];
  let timer: NodeJS.Timeout | null = null;
  const ready: Pending<T>[][] = [];
  let active = 0;
  let idleWaiters: (() => void)[] = [];

  const settleIdle = () => {
    if (active > 0 || ready.length > 0 || filling.length > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  const pump = () => {
    while (active < opts.concurrency && ready.length > 0) {
      const batch = ready.shift() as Pending<T>[];
      active += 1;
      opts
        .write(batch.map((p) => p.row))
        .then(
          () => batch.forEach((p) => p.resolve()),
          (err: unknown) => batch.forEach((p) => p.reject(err)),
        )
        .finally(() => {
          active -= 1;
          pump();
          settleIdle();
        });
    }
  };

  const cut = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (filling.length === 0) return;
    ready.push(filling);
    filling = [];
    pump();
  };

  return {
    add(row) {
      return new Promise<void>((resolve, reject) => {
        filling.push({ row, resolve, reject });
        if (filling.length >= opts.maxRows) cut();
        else timer ??= setTimeout(cut, opts.maxWaitMs);
      });
    },
    addMany(rows) {
      if (rows.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        let left = rows.length;
        const done = () => {
          left -= 1;
          if (left === 0) resolve();
        };
        for (const row of rows) {
          filling.push({ row, resolve: done, reject });
          if (filling.length >= opts.maxRows) cut();
        }
        if (filling.length > 0) timer ??= setTimeout(cut, opts.maxWaitMs);
      });
    },
    flush() {
      cut();
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        settleIdle();
      });
    },
  };
}
