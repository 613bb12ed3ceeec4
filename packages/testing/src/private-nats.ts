import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';
import { serverProcess } from './server-process';

/** Options of {@link startPrivateNats}. */
export interface PrivateNatsOptions {
  /** Enable JetStream (file store in `storeDir`); default true. */
  jetstream?: boolean;
  /** Binary; default `/usr/sbin/nats-server`. */
  binary?: string;
}

/** A nats-server of one's own, for tests that restart or kill NATS. */
export interface PrivateNats {
  /** Client URL. */
  url: string;
  /** Port (stays the same across restarts). */
  port: number;
  /** JetStream store directory (kept across restarts). */
  storeDir: string;
  /** Graceful stop (SIGTERM); the store stays for `start()`. */
  stop(): Promise<void>;
  /** SIGKILL: a crash; the store stays. */
  kill(): Promise<void>;
  /** Starts again on the same port and store. */
  start(): Promise<void>;
  /** Stops the server and deletes its store directory. */
  destroy(): Promise<void>;
}

/** Starts a private nats-server on a free port with its own store directory. */
export async function startPrivateNats(opts: PrivateNatsOptions = {}): Promise<PrivateNats> {
  const port = await freePort();
  const storeDir = await mkdtemp(path.join(os.tmpdir(), 'drover-nats-'));
  const args = ['-a', '127.0.0.1', '-p', String(port)];
  if (opts.jetstream ?? true) args.push('-js', '-sd', storeDir);
  const proc = serverProcess({ command: opts.binary ?? '/usr/sbin/nats-server', args, port });
  await proc.start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    stop: () => proc.stop(),
    kill: () => proc.kill(),
    start: () => proc.start(),
    destroy: async () => {
      await proc.stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
