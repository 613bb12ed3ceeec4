// One key's tasks in order, different keys' at once: a device's commands (command.forwarder.ts)
// and a device's statuses on a pipelined connection (subscriber.connection.ts).

/**
 * Runs tasks one after another per key and tasks of different keys concurrently. A task starts
 * once the previous task of its key has settled (also when that one failed); the order is the
 * order of `run` calls, which the consume loop makes in stream order.
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<void>>();

  /** Keys with a task running or waiting. */
  get size(): number {
    return this.tails.size;
  }

  /** Runs `task` after every earlier task of `key`; resolves or rejects with it. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key);
    const result = previous === undefined ? task() : previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
