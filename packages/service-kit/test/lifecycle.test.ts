import { Writable } from 'node:stream';
import { createLogger } from '@drover/observability';
import { createLifecycle } from '../src';

function quietLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: createLogger({ service: 'lc-test', level: 'debug', destination }), lines };
}

describe('createLifecycle', () => {
  it('runs intake → drain → flush → close, each phase last-registered first', async () => {
    const { logger } = quietLogger();
    const lc = createLifecycle({ logger, exit: () => undefined });
    const order: string[] = [];
    const hook = (label: string) => async () => {
      await new Promise((r) => setImmediate(r));
      order.push(label);
    };
    // Registered out of phase order on purpose.
    lc.onStop('close', 'pg', hook('close:pg'));
    lc.onStop('flush', 'batcher', hook('flush:batcher'));
    lc.onStop('intake', 'http', hook('intake:http'));
    lc.onStop('drain', 'consumer-a', hook('drain:a'));
    lc.onStop('close', 'redis', hook('close:redis'));
    lc.onStop('drain', 'consumer-b', hook('drain:b'));
    lc.onStop('intake', 'rpc', hook('intake:rpc'));

    expect(lc.stopping).toBe(false);
    const done = lc.stop('test');
    expect(lc.stopping).toBe(true);
    expect(lc.signal.aborted).toBe(true);
    await expect(done).resolves.toBe(true);
    expect(order).toEqual([
      'intake:rpc',
      'intake:http',
      'drain:b',
      'drain:a',
      'flush:batcher',
      'close:redis',
      'close:pg',
    ]);
  });

  it('is idempotent: a second stop returns the same run', async () => {
    const { logger } = quietLogger();
    const lc = createLifecycle({ logger });
    let calls = 0;
    lc.onStop('close', 'once', () => {
      calls += 1;
    });
    const a = lc.stop('first');
    const b = lc.stop('second');
    expect(b).toBe(a);
    await a;
    expect(calls).toBe(1);
  });

  it('keeps going after a failing hook, logs it and reports failure', async () => {
    const { logger, lines } = quietLogger();
    const lc = createLifecycle({ logger });
    const ran: string[] = [];
    lc.onStop('drain', 'broken', () => {
      throw new Error('drain failed');
    });
    lc.onStop('close', 'pool', () => {
      ran.push('pool');
    });
    await expect(lc.stop('test')).resolves.toBe(false);
    expect(ran).toEqual(['pool']);
    expect(lines).toContainEqual(
      expect.objectContaining({ event: 'lifecycle.hook_failed', phase: 'drain', hook: 'broken' }),
    );
  });

  it('rejects when the shutdown exceeds timeoutMs', async () => {
    const { logger, lines } = quietLogger();
    const lc = createLifecycle({ logger, timeoutMs: 50 });
    let release: () => void = () => undefined;
    lc.onStop('drain', 'stuck', () => new Promise<void>((r) => (release = r)));
    await expect(lc.stop('test')).rejects.toThrow(/timed out after 50 ms/);
    expect(lines).toContainEqual(expect.objectContaining({ event: 'lifecycle.stop_timeout' }));
    release();
  });

  it('refuses an unknown phase', () => {
    const { logger } = quietLogger();
    const lc = createLifecycle({ logger });
    // @ts-expect-error: the phase is checked at run time too, for JavaScript callers.
    expect(() => lc.onStop('later', 'x', () => undefined)).toThrow(/unknown stop phase/);
  });
});
