import { Writable } from 'node:stream';
import { context, trace, TraceFlags } from '@opentelemetry/api';
import { createLogger, hashId, newCorrelationId, runWithContext } from '../src';

// Collects what pino writes so each line can be parsed back.
function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stream, lines };
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

describe('createLogger', () => {
  it('writes JSON with ISO time, level label, service and msg', () => {
    const out = capture();
    const logger = createLogger({ service: 'svc-a', destination: out.stream });
    logger.info({ event: 'device.registered' }, 'registered');
    const [line] = out.lines();
    expect(line).toMatchObject({
      level: 'info',
      service: 'svc-a',
      event: 'device.registered',
      msg: 'registered',
    });
    expect(new Date(line?.time as string).toISOString()).toBe(line?.time);
    // Outside any context no context field is invented.
    expect(line).not.toHaveProperty('correlation_id');
    expect(line).not.toHaveProperty('trace_id');
  });

  it('mixes in correlation, device and tenant from the current context, nesting merges', () => {
    const out = capture();
    const logger = createLogger({ service: 'svc-b', destination: out.stream });
    const correlationId = newCorrelationId();
    runWithContext({ correlationId, tenant: 'acme' }, () => {
      logger.info('outer');
      runWithContext({ deviceId: 'd1' }, () => logger.info('inner'));
      logger.info({ device_id: 'd2' }, 'explicit wins');
    });
    const [outer, inner, explicit] = out.lines();
    expect(outer).toMatchObject({ correlation_id: correlationId, tenant: 'acme' });
    expect(outer).not.toHaveProperty('device_id');
    expect(inner).toMatchObject({ correlation_id: correlationId, tenant: 'acme', device_id: 'd1' });
    expect(explicit).toMatchObject({ device_id: 'd2' });
  });

  it('keeps the context across awaits', async () => {
    const out = capture();
    const logger = createLogger({ service: 'svc-c', destination: out.stream });
    await runWithContext({ correlationId: 'c-async' }, async () => {
      await new Promise((r) => setImmediate(r));
      logger.info('after await');
    });
    expect(out.lines()[0]).toMatchObject({ correlation_id: 'c-async' });
  });

  it('adds trace_id when a span is active', () => {
    const out = capture();
    const logger = createLogger({ service: 'svc-d', destination: out.stream });
    const span = trace.wrapSpanContext({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: TraceFlags.SAMPLED,
    });
    context.with(trace.setSpan(context.active(), span), () => logger.info('in span'));
    logger.info('no span');
    const [inSpan, noSpan] = out.lines();
    expect(inSpan).toMatchObject({ trace_id: TRACE_ID });
    expect(noSpan).not.toHaveProperty('trace_id');
  });

  it('logs a hardware id only as its hash, even when passed by mistake', () => {
    const out = capture();
    const logger = createLogger({ service: 'svc-f', destination: out.stream });
    logger.info({ hardware_id: 'HW-SECRET-1', req: { hardwareId: 'HW-SECRET-2' } }, 'oops');
    const raw = JSON.stringify(out.lines());
    expect(raw).not.toContain('HW-SECRET');
    expect(out.lines()[0]).toMatchObject({
      hardware_id: hashId('HW-SECRET-1'),
      req: { hardwareId: hashId('HW-SECRET-2') },
    });
  });

  it('honours the level', () => {
    const out = capture();
    const logger = createLogger({ service: 'svc-e', level: 'warn', destination: out.stream });
    logger.info('dropped');
    logger.warn('kept');
    expect(out.lines().map((l) => l.msg)).toEqual(['kept']);
  });
});

describe('hashId', () => {
  it('is a stable 16-hex-char digest that does not reveal the input', () => {
    const h = hashId('HW-SERIAL-0001');
    expect(h).toMatch(/^[0-9a-f]{16}$/);
    expect(hashId('HW-SERIAL-0001')).toBe(h);
    expect(hashId('HW-SERIAL-0002')).not.toBe(h);
  });

  it('matches the sha256 prefix', () => {
    // sha256("abc") = ba7816bf8f01cfea414140de5dae2223...
    expect(hashId('abc')).toBe('ba7816bf8f01cfea');
  });
});

describe('newCorrelationId', () => {
  it('returns distinct ULIDs', () => {
    const a = newCorrelationId();
    const b = newCorrelationId();
    expect(a).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(a).not.toBe(b);
  });
});
