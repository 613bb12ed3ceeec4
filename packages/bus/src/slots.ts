/**
 * A counting semaphore that also reports how many slots are free, so the consume loop can
 * pull exactly as many messages as it can start now (nothing waits in a client buffer
 * while its ack_wait runs).
 */
export class Slots {
  private used = 0;
  private waiters: Array<() => void> = [];

  constructor(private readonly size: number) {}

  /** Slots free right now. */
  get free(): number {
    return this.size - this.used;
  }

  /** Slots taken right now. */
  get inUse(): number {
    return this.used;
  }

  /** Takes a slot; callers only take what `free` said was there. */
  take(): void {
    this.used++;
  }

  /** Gives a slot back and wakes whoever waits for one. */
  release(): void {
    this.used--;
    this.wake();
  }

  /** Resolves when at least one slot is free (or when `wake()` is forced). */
  async waitFree(): Promise<void> {
    if (this.free > 0) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Resolves when no slot is in use. */
  async waitIdle(): Promise<void> {
    while (this.used > 0) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Wakes every waiter (used on release and on stop). */
  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
