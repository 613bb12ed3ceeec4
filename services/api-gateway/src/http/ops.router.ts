// Operations endpoints on the API port: liveness, readiness of everything the gateway routes
// to, and Prometheus metrics (with the request duration histogram recorded here).
import { type Metrics } from '@drover/observability';
import { type FastifyInstance } from 'fastify';

/** A named readiness check; a throw counts as not ready. */
export type ReadinessChecks = Record<string, () => Promise<boolean>>;

/** Options of `registerOps`. */
export interface OpsOptions {
  /** Metrics registry served at /metrics. */
  metrics: Metrics;
  /** Checks that must all pass for /readyz to answer 200. */
  checks: ReadinessChecks;
  /** Longest one check may take before it counts as failed. */
  checkTimeoutMs?: number;
}

/** Registers /healthz, /readyz, /metrics and the request-duration hook on the root instance. */
export function registerOps(app: FastifyInstance, opts: OpsOptions): void {
  const duration = opts.metrics.histogram(
    'http_request_duration_seconds',
    'HTTP request duration by route and status',
    ['method', 'route', 'status'],
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  app.addHook('onResponse', (request, reply, done) => {
    // The route template, not the URL: one series per route, not per device id.
    const route = request.routeOptions.url ?? 'unmatched';
    duration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });

  const hidden = { schema: { hide: true } };
  app.get('/healthz', hidden, async () => ({ status: 'ok' }));

  app.get('/readyz', hidden, async (_request, reply) => {
    const timeoutMs = opts.checkTimeoutMs ?? 2000;
    const names = Object.keys(opts.checks);
    const results = await Promise.all(
      names.map((name) =>
        runCheck(opts.checks[name]!, timeoutMs).catch((err: unknown) => {
          // A check that throws is simply not ready; the body names it, the log says why.
          app.log.warn(
            { event: 'readyz.check_failed', check: name, err },
            'readiness check failed',
          );
          return false;
        }),
      ),
    );
    const checks = Object.fromEntries(names.map((n, i) => [n, results[i] ? 'ok' : 'failing']));
    const ready = results.every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
  });

  app.get('/metrics', hidden, async (_request, reply) => {
    const body = await opts.metrics.registry.metrics();
    return reply.type(opts.metrics.registry.contentType).send(body);
  });
}

async function runCheck(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([check(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
