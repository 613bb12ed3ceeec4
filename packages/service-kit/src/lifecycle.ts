import { type Logger } from '@drover/observability';

/** Shutdown phases, run in this order. */
export const STOP_PHASES = ['intake', 'drain', 'flush', 'close'] as const;
/** `intake`: stop taking work; `drain`: finish in-flight work; `flush`: write buffers; `close`: pools. */
export type StopPhase = (typeof STOP_PHASES)[number];

/** Options of `createLifecycle`. */
export interface LifecycleOptions {
  /** Where shutdown progress and failures are logged. */
  logger: Logger;
  /** Longest a whole shutdown may take before the process exits with 1 (default 15000). */
  timeoutMs?: number;
  /** Exits the process; tests replace it (default `process.exit`). */
  exit?: (code: number) => void;
}

/** Ordered, idempotent graceful shutdown. */
export interface Lifecycle {
  /** The service logger, for `main`. */
  readonly logger: Logger;
  /** True once `stop` was called; loops check it to stop taking work. */
  readonly stopping: boolean;
  /** Aborted when `stop` begins, for cancellable waits. */
  readonly signal: AbortSignal;
  /** Registers a hook; hooks of a phase run one at a time, last registered first. */
  onStop(phase: StopPhase, name: string, fn: () => Promise<void> | void): void;
  /** Runs every phase once; resolves true when every hook succeeded, rejects on timeout. */
  stop(reason: string): Promise<boolean>;
  /** SIGTERM/SIGINT → stop → exit 0 (1 if a hook failed); a second signal or timeout → exit 1. */
  installSignalHandlers(): void;
}

interface Hook {
  name: string;
  fn: () => Promise<void> | void;
}

/** Creates the shutdown sequencer of a service. */
export function createLifecycle(opts: LifecycleOptions): Lifecycle {
  const { logger } = opts;
  const timeoutMs = opts.timeoutMs ?? 15000;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const hooks: Record<StopPhase, Hook[]> = { intake: [], drain: [], flush: [], close: [] };
  const abort = new AbortController();
  let stopped: Promise<boolean> | undefined;

  async function runPhases(): Promise<boolean> {
    let ok = true;
    for (const phase of STOP_PHASES) {
      // Reverse order: what was started last depends on what was started first.
      for (const hook of [...hooks[phase]].reverse()) {
        const started = Date.now();
        try {
          await hook.fn();
          logger.debug(
            { event: 'lifecycle.hook_done', phase, hook: hook.name, ms: Date.now() - started },
            'stop hook done',
          );
        } catch (err) {
          ok = false;
          logger.error(
            { event: 'lifecycle.hook_failed', phase, hook: hook.name, err },
            'hook failed',
          );
        }
      }
    }
    return ok;
  }

  function stop(reason: string): Promise<boolean> {
    if (stopped) return stopped;
    logger.info({ event: 'lifecycle.stopping', reason }, 'shutting down');
    abort.abort(new Error(`stopping: ${reason}`));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new Error(`shutdown timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    stopped = Promise.race([runPhases(), timeout]).finally(() => clearTimeout(timer));
    stopped.then(
      (ok) => logger.info({ event: 'lifecycle.stopped', reason, ok }, 'shut down'),
      (err: unknown) =>
        logger.error({ event: 'lifecycle.stop_timeout', err }, 'shutdown timed out'),
    );
    return stopped;
  }

  let installed = false;
  function installSignalHandlers(): void {
    if (installed) return;
    installed = true;
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (signals > 1) {
        logger.warn({ event: 'lifecycle.forced_exit', signal }, 'second signal: exiting now');
        exit(1);
        return;
      }
      stop(signal).then(
        (ok) => exit(ok ? 0 : 1),
        () => exit(1),
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  return {
    logger,
    get stopping() {
      return stopped !== undefined;
    },
    signal: abort.signal,
    onStop(phase, name, fn) {
      if (!STOP_PHASES.includes(phase)) throw new Error(`unknown stop phase ${String(phase)}`);
      hooks[phase].push({ name, fn });
    },
    stop,
    installSignalHandlers,
  };
}
