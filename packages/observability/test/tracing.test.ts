import { context, trace, TraceFlags } from '@opentelemetry/api';
import { currentTraceId, extractTraceContext, injectTraceHeaders, startTracing } from '../src';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('trace propagation (tracing off)', () => {
  it('extracts traceparent/tracestate and injects them again from the extracted context', () => {
    const incoming: Record<string, string> = { traceparent: TRACEPARENT, tracestate: 'vnd=abc' };
    const ctx = extractTraceContext((k) => incoming[k]);
    const outgoing: Record<string, string> = {};
    context.with(ctx, () => {
      expect(currentTraceId()).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      injectTraceHeaders((k, v) => {
        outgoing[k] = v;
      });
    });
    expect(outgoing).toEqual({ traceparent: TRACEPARENT, tracestate: 'vnd=abc' });
  });

  it('injects from an explicit context too', () => {
    const span = trace.wrapSpanContext({
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      traceFlags: TraceFlags.NONE,
    });
    const headers = new Map<string, string>();
    injectTraceHeaders((k, v) => headers.set(k, v), trace.setSpan(context.active(), span));
    expect(headers.get('traceparent')).toBe(`00-${'a'.repeat(32)}-${'b'.repeat(16)}-00`);
  });

  it('ignores a malformed traceparent and injects nothing without a span', () => {
    const ctx = extractTraceContext((k) => (k === 'traceparent' ? 'garbage' : undefined));
    const headers = new Map<string, string>();
    context.with(ctx, () => {
      expect(currentTraceId()).toBeUndefined();
      injectTraceHeaders((k, v) => headers.set(k, v));
    });
    expect(headers.size).toBe(0);
  });

  it('startTracing without an endpoint is a no-op that can be shut down either way', async () => {
    const stop = startTracing({ service: 'svc' });
    await expect(stop()).resolves.toBeUndefined();
    await expect(stop.shutdown()).resolves.toBeUndefined();
    // Propagation still works after the no-op shutdown.
    const ctx = extractTraceContext((k) => (k === 'traceparent' ? TRACEPARENT : undefined));
    expect(context.with(ctx, currentTraceId)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });
});
