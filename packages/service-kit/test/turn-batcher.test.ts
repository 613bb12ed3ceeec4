import { type BatchEntry, createTurnBatcher } from '../src';

/** A batcher that records its batches and answers each item doubled once released. */
function recording(opts: { max: number; concurrency: number }) {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  let running = 0;
  let most = 0;
  const batcher = createTurnBatcher<number, number>(async (batch) => {
    batches.push(batch.map((e) => e.item));
    running += 1;
    most = Math.max(most, running);
    await new Promise<void>((resolve) => gates.push(resolve));
    running -= 1;
    for (const e of batch) e.resolve(e.item * 2);
  }, opts);
  const releaseAll = async (until: () => boolean) => {
    while (!until()) {
      gates.splice(0).forEach((g) => g());
      await new Promise((r) => setImmediate(r));
    }
  };
  return { batcher, batches, releaseAll, most: () => most };
}

describe('createTurnBatcher', () => {
  it('runs one turn’s items as batches of at most max, concurrency at a time', async () => {
    const r = recording({ max: 3, concurrency: 2 });
    const results = Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => r.batcher.submit(n)));
    let settled = false;
    void results.then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    // Two batches started in the first turn; the third waits for a free slot.
    expect(r.batches).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    await r.releaseAll(() => settled);
    expect(await results).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(r.batches).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect(r.most()).toBe(2);
  });

  it('items of a later turn form a batch of their own', async () => {
    const r = recording({ max: 10, concurrency: 4 });
    const first = r.batcher.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    const second = r.batcher.submit(2);
    let done = false;
    void Promise.all([first, second]).then(() => (done = true));
    await r.releaseAll(() => done);
    expect(r.batches).toEqual([[1], [2]]);
  });

  it('a failing batch rejects what it left unsettled, and the next batches still run', async () => {
    let calls = 0;
    const batcher = createTurnBatcher<string, string>(
      async (batch: BatchEntry<string, string>[]) => {
        calls += 1;
        if (calls === 1) {
          batch[0]?.resolve('kept');
          throw new Error('postgres went away');
        }
        for (const e of batch) e.resolve(`ok ${e.item}`);
      },
      { max: 2, concurrency: 1 },
    );
    const outcomes = await Promise.allSettled(['a', 'b', 'c'].map((x) => batcher.submit(x)));
    expect(outcomes).toEqual([
      { status: 'fulfilled', value: 'kept' },
      { status: 'rejected', reason: new Error('postgres went away') },
      { status: 'fulfilled', value: 'ok c' },
    ]);
  });

  it('an item a batch forgets to settle is rejected, not left hanging', async () => {
    const batcher = createTurnBatcher<number, number>(
      async (batch) => {
        batch[0]?.resolve(1);
      },
      { max: 2, concurrency: 1 },
    );
    const outcomes = await Promise.allSettled([batcher.submit(1), batcher.submit(2)]);
    expect(outcomes[0]).toEqual({ status: 'fulfilled', value: 1 });
    expect(outcomes[1]).toMatchObject({ status: 'rejected', reason: { message: /unsettled/ } });
  });
});
