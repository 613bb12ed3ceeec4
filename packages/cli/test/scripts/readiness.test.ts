// Waits on a real /readyz: the ops server every service runs (@drover/observability).
import { portAccepts, probeHttp, waitForOk } from '../../../../scripts/lib/readiness.mjs';
// Module by module: the package index also loads the OpenTelemetry SDK, slow and not needed.
import { createLogger } from '../../../observability/src/logger';
import { createMetrics } from '../../../observability/src/metrics';
import { type OpsServer, startOpsServer } from '../../../observability/src/ops-server';
import { closedPort } from '../helpers/capture-io';

describe('waiting for /readyz', () => {
  let ops: OpsServer;
  let ready = false;
  let calls = 0;
  let url: string;

  beforeAll(async () => {
    ops = await startOpsServer({
      port: 0,
      host: '127.0.0.1',
      registry: createMetrics({ service: 'cli-test', defaultMetrics: false }).registry,
      logger: createLogger({ service: 'cli-test', level: 'silent' }),
      checks: {
        dependency: async () => {
          calls += 1;
          // Becomes ready on the third probe, as a service does once its connections are up.
          if (calls >= 3) ready = true;
          return ready;
        },
      },
    });
    url = `http://127.0.0.1:${ops.port}/readyz`;
  });
  afterAll(() => ops.close());

  it('polls until the endpoint answers 200', async () => {
    await expect(waitForOk(url, { timeoutMs: 10_000, intervalMs: 10 })).resolves.toBe(true);
    expect(calls).toBe(3);
    await expect(probeHttp(url)).resolves.toMatchObject({ ok: true, status: 200 });
  });

  it('gives up after the timeout, and at once when cancelled', async () => {
    ready = false;
    calls = -1_000_000;
    await expect(probeHttp(url)).resolves.toMatchObject({ ok: false, status: 503 });
    await expect(waitForOk(url, { timeoutMs: 100, intervalMs: 10 })).resolves.toBe(false);
    await expect(waitForOk(url, { cancelled: () => true })).resolves.toBe(false);
  });

  it('reports a closed port as status 0 with the system code', async () => {
    const port = await closedPort();
    await expect(probeHttp(`http://127.0.0.1:${port}/readyz`)).resolves.toEqual({
      ok: false,
      status: 0,
      body: 'ECONNREFUSED',
    });
  });

  it('tells a taken port from a free one (a second npm start)', async () => {
    await expect(portAccepts(ops.port)).resolves.toBe(true);
    await expect(portAccepts(await closedPort())).resolves.toBe(false);
  });
});
