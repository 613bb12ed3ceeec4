// The download endpoint devices fetch firmware from (FIRMWARE_HTTP_PORT): GET/HEAD
// `/firmware/<id>/image?device=&exp=&sig=` with an HMAC-signed, expiring query (see
// domain/firmware-download-token.ts). Single byte ranges are served (206), so a device resumes an
// interrupted download. No other path exists; errors are JSON `{error_code, detail}`.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { type Logger } from '@drover/observability';
import { parseRange, verifyDownloadPath } from '../domain/firmware-download-token';
import { type FirmwareRegistry } from './firmware.registry';

/** A running download endpoint. */
export interface DownloadServer {
  /** The bound port (useful with port 0). */
  port: number;
  /** Stops accepting and closes idle connections. */
  stop(): Promise<void>;
}

/** Options of {@link startDownloadServer}. */
export interface DownloadServerOptions {
  registry: Pick<FirmwareRegistry, 'openForDownload'>;
  secret: Buffer;
  port: number;
  host?: string;
  logger: Logger;
  now?: () => Date;
}

const STATUS = { not_found: 404, bad_request: 400, bad_signature: 403, expired: 410 } as const;

function fail(res: ServerResponse, status: number, code: string, detail: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error_code: code, detail });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** Starts the endpoint. */
export async function startDownloadServer(opts: DownloadServerOptions): Promise<DownloadServer> {
  const now = opts.now ?? (() => new Date());

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      fail(res, 405, 'method_not_allowed', 'only GET and HEAD');
      return;
    }
    const checked = verifyDownloadPath(
      opts.secret,
      req.url ?? '/',
      Math.floor(now().getTime() / 1000),
    );
    if (!checked.ok) {
      fail(
        res,
        STATUS[checked.reason],
        `download_${checked.reason}`,
        `download URL ${checked.reason.replace('_', ' ')}`,
      );
      return;
    }
    const { firmwareId, deviceId } = checked.grant;
    const whole = await opts.registry.openForDownload(firmwareId);
    if (whole === null) {
      fail(res, 404, 'firmware_not_found', `firmware ${firmwareId} not found`);
      return;
    }
    const range = parseRange(req.headers.range, whole.size);
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'accept-ranges': 'bytes',
      etag: `"${whole.firmware.sha256}"`,
      'x-firmware-sha256': whole.firmware.sha256,
      'cache-control': 'private, no-transform',
    };
    if (range === 'unsatisfiable') {
      whole.body.destroy();
      res.writeHead(416, { 'content-range': `bytes */${whole.size}` });
      res.end();
      return;
    }
    let body = whole.body;
    if (range !== null) {
      whole.body.destroy();
      const part = await opts.registry.openForDownload(firmwareId, range);
      if (part === null) {
        fail(res, 404, 'firmware_not_found', `firmware ${firmwareId} not found`);
        return;
      }
      body = part.body;
      headers['content-range'] = `bytes ${range.start}-${range.end}/${whole.size}`;
      headers['content-length'] = range.end - range.start + 1;
      res.writeHead(206, headers);
    } else {
      headers['content-length'] = whole.size;
      res.writeHead(200, headers);
    }
    opts.logger.info(
      {
        event: 'firmware.download',
        firmware_id: firmwareId,
        device_id: deviceId,
        range: range === null ? null : `${range.start}-${range.end}`,
      },
      'firmware download',
    );
    if (req.method === 'HEAD') {
      body.destroy();
      res.end();
      return;
    }
    await pipeline(body, res);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e = err as NodeJS.ErrnoException;
      // A device that hangs up mid-download is normal; anything else is ours.
      if (e.code === 'ERR_STREAM_PREMATURE_CLOSE' || e.code === 'ECONNRESET') return;
      opts.logger.error({ event: 'firmware.download_failed', err: e.message }, 'download failed');
      fail(res, 500, 'internal_error', 'the download failed');
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
