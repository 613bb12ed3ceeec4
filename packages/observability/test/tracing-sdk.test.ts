import { createServer, type IncomingMessage } from 'node:http';
import { type AddressInfo } from 'node:net';
import { context, trace } from '@opentelemetry/api';
import { currentTraceId, injectTraceHeaders, startTracing } from '../src';

// A stand-in OTLP collector: records what the exporter posts.
function collector() {
  const requests: { url: string; body: Buffer }[] = [];
  let onRequest: () => void = () => undefined;
  const received = new Promise<void>((resolve) => {
    onRequest = resolve;
  });
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      onRequest();
    });
  });
  return { server, requests, received };
}

describe('startTracing with an OTLP endpoint', () => {
  const c = collector();
  let endpoint = '';

  beforeAll(async () => {
    await new Promise<void>((r) => c.server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(c.server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    c.server.closeAllConnections();
    await new Promise((r) => c.server.close(r));
  });

  it('records spans, exposes their trace id, propagates it and exports on shutdown', async () => {
    const stop = startTracing({ service: 'trace-test', otlpEndpoint: endpoint });
    const tracer = trace.getTracer('test');
    let traceId: string | undefined;
    const headers: Record<string, string> = {};
    tracer.startActiveSpan('work', (span) => {
      traceId = currentTraceId();
      injectTraceHeaders((k, v) => {
        headers[k] = v;
      });
      span.end();
    });
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(traceId).not.toBe('0'.repeat(32));
    expect(headers.traceparent).toContain(traceId);
    expect(context.with(context.active(), currentTraceId)).toBeUndefined();

    await stop.shutdown();
    await c.received;
    expect(c.requests[0]?.url).toBe('/v1/traces');
    expect(c.requests[0]?.body.toString()).toContain('trace-test');
  });
});
