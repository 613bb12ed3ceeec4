import { freePort } from './ports';
import { serverProcess } from './server-process';

/** A redis-server of one's own (no persistence), for tests that restart or kill Redis. */
export interface PrivateRedis {
  /** Client URL. */
  url: string;
  /** Port (stays the same across restarts). */
  port: number;
  /** Graceful stop. */
  stop(): Promise<void>;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** Starts again on the same port (empty: nothing is persisted). */
  start(): Promise<void>;
}

/** Starts a private redis-server on a free port, without persistence. */
export async function startPrivateRedis(opts: { binary?: string } = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const proc = serverProcess({ command: opts.binary ?? '/usr/bin/redis-server', args, port });
  await proc.start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => proc.stop(),
    kill: () => proc.kill(),
    start: () => proc.start(),
  };
}
