import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';
import { serverProcess } from './server-process';

/** Options of {@link startPrivateMosquitto}. */
export interface PrivateMosquittoOptions {
  /**
   * Extra mosquitto.conf lines (ACLs, auth, TLS listeners…). The helper writes the plain
   * listener itself; `allow_anonymous true` is added unless the config sets it.
   */
  config?: string;
  /** Binary; default `/usr/sbin/mosquitto`. */
  binary?: string;
}

/** A mosquitto of one's own, for tests that restart the broker or need a special config. */
export interface PrivateMosquitto {
  /** Client URL (`mqtt://127.0.0.1:<port>`). */
  url: string;
  /** Port (stays the same across restarts). */
  port: number;
  /** Directory holding the config (for ACL or password files the test writes). */
  dir: string;
  /** Graceful stop. */
  stop(): Promise<void>;
  /** SIGKILL. */
  kill(): Promise<void>;
  /** Starts again on the same port. */
  start(): Promise<void>;
  /** Stops and deletes the directory. */
  destroy(): Promise<void>;
}

/** Starts a private mosquitto on a free port with the given config. */
export async function startPrivateMosquitto(
  opts: PrivateMosquittoOptions = {},
): Promise<PrivateMosquitto> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'drover-mosquitto-'));
  const extra = opts.config ?? '';
  const lines = [`listener ${port} 127.0.0.1`];
  if (!/^\s*allow_anonymous\s/m.test(extra)) lines.push('allow_anonymous true');
  // As root, mosquitto switches to the `mosquitto` user unless told otherwise, and then may
  // not read files the test wrote.
  if (process.getuid?.() === 0 && !/^\s*user\s/m.test(extra)) lines.push('user root');
  lines.push('persistence false', extra);
  const configFile = path.join(dir, 'mosquitto.conf');
  await writeFile(configFile, `${lines.join('\n')}\n`);
  const proc = serverProcess({
    command: opts.binary ?? '/usr/sbin/mosquitto',
    args: ['-c', configFile],
    port,
  });
  await proc.start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    dir,
    stop: () => proc.stop(),
    kill: () => proc.kill(),
    start: () => proc.start(),
    destroy: async () => {
      await proc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
