import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { type Registry } from 'prom-client';
import { type Logger } from './logger';

/** A readiness check: resolves true when the dependency is usable. */
export type ReadinessCheck = () => Promise<boolean>;

/** Options of `startOpsServer`. */
export interface OpsServerOptions {
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Interface to bind (default all). */
  host?: string;
  /** Registry served on `/metrics`. */
  registry: Registry;
  /** Named readiness checks for `/readyz`. */
  checks: Record<string, ReadinessCheck>;
  /** Logger for failed checks and server errors. */
  logger: Logger;
  /** A check slower than this counts as failed (default 2000 ms). */
  checkTimeoutMs?: number;
}

/** A running ops server. */
export interface OpsServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  /** Stops accepting connections and closes idle ones. */
  close(): Promise<void>;
}

/** Serves `/healthz`, `/readyz` and `/metrics` on plain node:http, apart from the public API. */
export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const timeoutMs = opts.checkTimeoutMs ?? 2000;
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.logger.error({ event: 'ops.request_failed', err }, 'ops request failed');
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain', 'method not allowed\n');
    } else if (path === '/healthz') {
      send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }));
    } else if (path === '/readyz') {
      const checks = await runChecks(opts.checks, timeoutMs, opts.logger);
      const ready = Object.values(checks).every(Boolean);
      const body = { status: ready ? 'ready' : 'not_ready', checks };
      send(res, ready ? 200 : 503, 'application/json', JSON.stringify(body));
    } else if (path === '/metrics') {
      send(res, 200, opts.registry.contentType, await opts.registry.metrics());
    } else {
      send(res, 404, 'text/plain', 'not found\n');
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => opts.logger.error({ event: 'ops.server_error', err }, 'ops error'));
  const port = (server.address() as AddressInfo).port;
  opts.logger.info({ event: 'ops.listening', port }, 'ops server listening');

  let closed: Promise<void> | undefined;
  return {
    port,
    close: () =>
      (closed ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      })),
  };
}

async function runChecks(
  checks: Record<string, ReadinessCheck>,
  timeoutMs: number,
  logger: Logger,
): Promise<Record<string, boolean>> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        const ok = await Promise.race([check(), timeout]);
        // Probes poll often: a plain "not ready" is debug, a thrown check is worth a warning.
        if (!ok) logger.debug({ event: 'ops.check_failed', check: name }, 'readiness check failed');
        return [name, ok === true] as const;
      } catch (err) {
        logger.warn({ event: 'ops.check_failed', check: name, err }, 'readiness check threw');
        return [name, false] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return Object.fromEntries(entries);
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
