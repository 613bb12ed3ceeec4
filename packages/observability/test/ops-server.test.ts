import { Writable } from 'node:stream';
import { createLogger, createMetrics, startOpsServer, type OpsServer } from '../src';

const silent = createLogger({
  service: 'ops-test',
  destination: new Writable({ write: (_c, _e, cb) => cb() }),
});

describe('createMetrics', () => {
  it('labels every series with the service and returns the same metric for a name', async () => {
    const metrics = createMetrics({ service: 'svc-m' });
    const c = metrics.counter('drover_things_total', 'things', ['kind']);
    expect(metrics.counter('drover_things_total', 'things', ['kind'])).toBe(c);
    c.inc({ kind: 'a' }, 2);
    metrics.histogram('drover_rtt_seconds', 'rtt', [], [0.1, 1]).observe(0.5);
    metrics.gauge('drover_depth', 'depth').set(7);
    const text = await metrics.registry.metrics();
    expect(text).toContain('drover_things_total{kind="a",service="svc-m"} 2');
    expect(text).toContain('drover_rtt_seconds_bucket{le="1",service="svc-m"} 1');
    expect(text).toContain('drover_depth{service="svc-m"} 7');
    expect(text).toMatch(/process_cpu_user_seconds_total\{service="svc-m"\}/);
  });
});

describe('startOpsServer', () => {
  let server: OpsServer;
  let busUp = true;
  let base = '';
  const metrics = createMetrics({ service: 'svc-ops', defaultMetrics: false });
  metrics.counter('drover_ops_test_total', 'test').inc();

  beforeAll(async () => {
    server = await startOpsServer({
      port: 0,
      host: '127.0.0.1',
      registry: metrics.registry,
      logger: silent,
      checkTimeoutMs: 200,
      checks: {
        db: async () => true,
        bus: async () => busUp,
      },
    });
    base = `http://127.0.0.1:${server.port}`;
  });

  afterAll(async () => {
    await server.close();
  });

  it('answers /healthz with 200 while the process is up', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with 200 when every check passes and 503 naming the failing one', async () => {
    busUp = true;
    const ok = await fetch(`${base}/readyz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ready', checks: { db: true, bus: true } });

    busUp = false;
    const down = await fetch(`${base}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ status: 'not_ready', checks: { db: true, bus: false } });
  });

  it('serves /metrics in the Prometheus text format', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toContain('drover_ops_test_total{service="svc-ops"} 1');
  });

  it('answers 404 for anything else and 405 for other methods', async () => {
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405);
  });
});

describe('readiness checks that throw or hang', () => {
  it('count as failed', async () => {
    const server = await startOpsServer({
      port: 0,
      host: '127.0.0.1',
      registry: createMetrics({ service: 'x', defaultMetrics: false }).registry,
      logger: silent,
      checkTimeoutMs: 50,
      checks: {
        throws: async () => {
          throw new Error('redis down');
        },
        hangs: () => new Promise<boolean>(() => undefined),
      },
    });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        status: 'not_ready',
        checks: { throws: false, hangs: false },
      });
    } finally {
      await server.close();
    }
  });
});
