// Correlation ids: valid ULIDs (checked with the `ulid` package), unique, increasing in time
// order, timed now (the generator itself is tested in @drover/contracts); and the context that
// carries them.
import { decodeTime, isValid } from 'ulid';
import { context as otelContext, createContextKey } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { captureContext, getContext, newCorrelationId, runWithContext } from '../src';

describe('correlation ids', () => {
  it('are 100k valid, unique ULIDs in increasing order, timed now', () => {
    const t0 = Date.now();
    const ids = Array.from({ length: 100_000 }, () => newCorrelationId());
    const t1 = Date.now();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as string;
      if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(id) || !isValid(id)) throw new Error(`bad ${id}`);
      if (i > 0 && !(id > (ids[i - 1] as string))) throw new Error(`${id} not after ${ids[i - 1]}`);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(decodeTime(ids[0] as string)).toBeGreaterThanOrEqual(t0);
    expect(decodeTime(ids[ids.length - 1] as string)).toBeLessThanOrEqual(t1);
  });
});

describe('context', () => {
  it('inherits fields not given from the enclosing context', () => {
    const id = newCorrelationId();
    runWithContext({ correlationId: id, tenant: 'acme' }, () =>
      runWithContext({ deviceId: 'd1' }, () => {
        expect(getContext()).toEqual({ correlationId: id, tenant: 'acme', deviceId: 'd1' });
      }),
    );
    expect(getContext()).toEqual({});
  });

  it('captures the context and the trace context for work done later, elsewhere', async () => {
    const manager = new AsyncLocalStorageContextManager().enable();
    otelContext.setGlobalContextManager(manager);
    try {
      const key = createContextKey('test');
      const later = otelContext.with(otelContext.active().setValue(key, 'span-1'), () =>
        runWithContext({ correlationId: 'c-1' }, () => captureContext()),
      );
      const outside = captureContext();
      // Run from a timer: nothing of the capturing call's context is current there.
      const seen = await new Promise<unknown[]>((resolve) =>
        setTimeout(() => {
          resolve([
            getContext(),
            later(() => [getContext(), otelContext.active().getValue(key)]),
            outside(() => getContext()),
          ]);
        }, 1),
      );
      expect(seen).toEqual([{}, [{ correlationId: 'c-1' }, 'span-1'], {}]);
    } finally {
      otelContext.disable();
      manager.disable();
    }
  });
});
