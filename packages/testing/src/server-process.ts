import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { portAccepts } from './ports';
import { waitFor } from './wait-for';

/** A server binary run as a child process that can be stopped, killed and started again. */
export interface ServerProcess {
  /** The pid of the running process, or undefined when it is not running. */
  readonly pid: number | undefined;
  /** Starts the process (again) and resolves once its port accepts connections. */
  start(): Promise<void>;
  /** SIGTERM, then waits for the exit (SIGKILL after `graceMs`). */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit: a crash. */
  kill(): Promise<void>;
  /** Everything the process wrote, for failure messages. */
  output(): string;
}

/** How to run one server. */
export interface ServerSpec {
  /** Executable. */
  command: string;
  /** Arguments. */
  args: string[];
  /** Port the server listens on; readiness is "accepts TCP here". */
  port: number;
  /** Extra spawn options (uid/gid, env). */
  spawnOptions?: SpawnOptions;
  /** How long a start may take (default 15 s). */
  startTimeoutMs?: number;
  /** How long SIGTERM may take before SIGKILL (default 10 s). */
  graceMs?: number;
  /** Extra readiness condition after the port accepts. */
  ready?: () => Promise<boolean>;
  /** Signal of a graceful stop (default SIGTERM). */
  stopSignal?: NodeJS.Signals;
  /**
   * Run in its own process group and signal the whole group, so a kill also takes down
   * worker processes (PostgreSQL backends), as a crash of the machine would.
   */
  processGroup?: boolean;
}

const MAX_OUTPUT = 64 * 1024;

/** Wraps a server binary in start/stop/kill with readiness and exit waiting. */
export function serverProcess(spec: ServerSpec): ServerProcess {
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let out = '';

  const waitExit = async (signal: NodeJS.Signals, graceMs: number): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return exited;
    const send = (sig: NodeJS.Signals): void => {
      if (spec.processGroup && c.pid) process.kill(-c.pid, sig);
      else c.kill(sig);
    };
    send(signal);
    const timer = setTimeout(() => send('SIGKILL'), graceMs);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    get pid() {
      return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    start: async () => {
      if (child && child.exitCode === null && child.signalCode === null) {
        throw new Error(`${spec.command} is already running`);
      }
      const c = spawn(spec.command, spec.args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: spec.processGroup === true,
        ...spec.spawnOptions,
      });
      child = c;
      const collect = (chunk: Buffer): void => {
        out = (out + chunk.toString()).slice(-MAX_OUTPUT);
      };
      c.stdout?.on('data', collect);
      c.stderr?.on('data', collect);
      exited = new Promise((resolve) => c.once('exit', () => resolve()));
      const spawnError = new Promise<never>((_, reject) => c.once('error', reject));
      const ready = waitFor(
        async () => {
          if (c.exitCode !== null || c.signalCode !== null) {
            throw new Error(`${spec.command} exited (${c.exitCode ?? c.signalCode}): ${out}`);
          }
          return (await portAccepts(spec.port)) && (spec.ready ? await spec.ready() : true);
        },
        { timeoutMs: spec.startTimeoutMs ?? 15_000, intervalMs: 50, description: spec.command },
      );
      try {
        await Promise.race([ready, spawnError]);
      } catch (err) {
        await waitExit('SIGKILL', 0);
        throw new Error(`${spec.command} did not start: ${String(err)}\n${out}`, { cause: err });
      }
    },
    stop: () => waitExit(spec.stopSignal ?? 'SIGTERM', spec.graceMs ?? 10_000),
    kill: () => waitExit('SIGKILL', 0),
    output: () => out,
  };
}
