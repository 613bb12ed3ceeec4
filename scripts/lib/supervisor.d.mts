// Types for supervisor.mjs.

/** What to run for one service. */
export interface ChildSpec {
  /** Service name, used in logs and reports. */
  name: string;
  /** The script node runs. */
  main: string;
  /** Working directory. */
  cwd: string;
  /** Environment. */
  env: Record<string, string | undefined>;
}

/** A child's state as the supervisor sees it. */
export interface ChildStatus {
  /** Service name. */
  name: string;
  /** Lifecycle state. */
  state: 'idle' | 'running' | 'restarting' | 'failed' | 'stopped';
  /** Crashes in the current series. */
  crashes: number;
  /** The process id while running. */
  pid: number | undefined;
}

export function restartDelayMs(n: number): number;
export function createSupervisor(
  specs: ChildSpec[],
  options: {
    onLine: (name: string, line: string, stream: 'stdout' | 'stderr') => void;
    report: (message: string) => void;
    maxRestarts?: number;
    restartDelay?: (n: number) => number;
    execPath?: string;
  },
): {
  start(): void;
  stop(timeoutMs?: number): Promise<void>;
  killAll(): void;
  status(): ChildStatus[];
};
