import { execFile } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports';
import { serverProcess } from './server-process';

const run = promisify(execFile);

/** Options of {@link startPrivatePostgres}. */
export interface PrivatePostgresOptions {
  /** Directory of the PostgreSQL binaries; default `/usr/lib/postgresql/15/bin`. */
  binDir?: string;
}

/** A PostgreSQL cluster of one's own, for tests that restart or kill the database. */
export interface PrivatePostgres {
  /** Connection URL (user postgres, trust auth, database postgres). */
  url: string;
  /** Port (stays the same across restarts). */
  port: number;
  /** Data directory (kept across restarts). */
  dataDir: string;
  /** Fast shutdown (SIGINT: open sessions are ended, not waited for). */
  stop(): Promise<void>;
  /** SIGKILL of the postmaster and its backends: a crash (recovery runs on the next start). */
  kill(): Promise<void>;
  /** Starts again on the same port and data. */
  start(): Promise<void>;
  /** Stops and deletes the cluster. */
  destroy(): Promise<void>;
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { uid, gid };
}

/**
 * initdb's a fresh cluster in a temp directory and runs `postgres` on a free port with its
 * socket in that directory. PostgreSQL refuses to run as root, so as root the cluster belongs
 * to the `postgres` user (initdb through `runuser`, the server spawned with its uid/gid).
 */
export async function startPrivatePostgres(
  opts: PrivatePostgresOptions = {},
): Promise<PrivatePostgres> {
  const binDir = opts.binDir ?? '/usr/lib/postgresql/15/bin';
  const port = await freePort();
  const root = await mkdtemp(path.join(os.tmpdir(), 'drover-pg-'));
  const dataDir = path.join(root, 'data');
  const socketDir = path.join(root, 'sock');
  await mkdir(dataDir);
  await mkdir(socketDir);
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot ? await postgresIds() : null;
  const initdb = [path.join(binDir, 'initdb'), '-D', dataDir, '-A', 'trust', '-U', 'postgres'];
  if (ids) {
    for (const dir of [root, dataDir, socketDir]) await chown(dir, ids.uid, ids.gid);
    await run('runuser', ['-u', 'postgres', '--', ...initdb, '--no-sync']);
  } else {
    await run(initdb[0]!, [...initdb.slice(1), '--no-sync']);
  }
  const args = ['-D', dataDir, '-p', String(port), '-k', socketDir];
  args.push('-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off');
  const proc = serverProcess({
    command: path.join(binDir, 'postgres'),
    args,
    port,
    spawnOptions: ids ? { uid: ids.uid, gid: ids.gid, cwd: root } : { cwd: root },
    startTimeoutMs: 30_000,
    stopSignal: 'SIGINT',
    processGroup: true,
    // The port opens before recovery ends; pg_isready says when connections are accepted.
    ready: async () => {
      try {
        await run(path.join(binDir, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)]);
        return true;
      } catch (err) {
        return (err as { code?: number }).code === 0;
      }
    },
  });
  await proc.start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    stop: () => proc.stop(),
    kill: () => proc.kill(),
    start: () => proc.start(),
    destroy: async () => {
      await proc.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
