import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';
import { serverProcess } from './server-process';
import { waitFor } from './wait-for';

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

/** Options of {@link startPrivateNatsCluster}. */
export interface PrivateNatsClusterOptions {
  /** Nodes (default 3). */
  nodes?: number;
  /** Binary; default `/usr/sbin/nats-server`. */
  binary?: string;
}

/** A JetStream cluster of one's own (one process per node, routes on loopback). */
export interface PrivateNatsCluster {
  /** Client URLs of every node, comma separated (as `NATS_URL` takes them). */
  url: string;
  /** Stops every node and deletes their stores. */
  destroy(): Promise<void>;
}

/**
 * Starts a JetStream cluster on free ports and resolves once every node reports JetStream
 * healthy (`/healthz`: a meta leader is elected and the node is current with it).
 */
export async function startPrivateNatsCluster(
  opts: PrivateNatsClusterOptions = {},
): Promise<PrivateNatsCluster> {
  const n = opts.nodes ?? 3;
  const nodes: { port: number; routePort: number; httpPort: number; storeDir: string }[] = [];
  for (let i = 0; i < n; i += 1) {
    nodes.push({
      port: await freePort(),
      routePort: await freePort(),
      httpPort: await freePort(),
      storeDir: await mkdtemp(path.join(os.tmpdir(), `drover-nats-c${i}-`)),
    });
  }
  const routes = nodes.map((x) => `nats://127.0.0.1:${x.routePort}`).join(',');
  const procs = nodes.map((x, i) =>
    serverProcess({
      command: opts.binary ?? '/usr/sbin/nats-server',
      args: [
        ...['-a', '127.0.0.1', '-p', String(x.port), '-m', String(x.httpPort)],
        ...['-js', '-sd', x.storeDir, '--server_name', `n${i}`],
        ...['--cluster_name', 'drover-test', '--cluster', `nats://127.0.0.1:${x.routePort}`],
        ...['--routes', routes],
      ],
      port: x.port,
      startTimeoutMs: 30_000,
    }),
  );
  const destroy = async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all(nodes.map((x) => rm(x.storeDir, { recursive: true, force: true })));
  };
  try {
    await Promise.all(procs.map((p) => p.start()));
    await waitFor(
      async () => {
        const answers = await Promise.all(
          nodes.map((x) =>
            fetch(`http://127.0.0.1:${x.httpPort}/healthz`).then(
              (r) => r.ok,
              () => false,
            ),
          ),
        );
        return answers.every(Boolean);
      },
      { timeoutMs: 30_000, intervalMs: 100, description: 'a JetStream cluster with a leader' },
    );
  } catch (err) {
    await destroy();
    throw err;
  }
  return { url: nodes.map((x) => `nats://127.0.0.1:${x.port}`).join(','), destroy };
}
