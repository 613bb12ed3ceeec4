// Runs the services as child processes: line-by-line output, restart with back-off after a
// crash (at most `maxRestarts` in a row), and an orderly stop (SIGTERM, then SIGKILL).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A crash after this long up counts as the first of a new series. */
const STABLE_MS = 60_000;

/** Delay before restart number n (1-based): 1 s, 2 s, 4 s, … capped at 30 s. */
export function restartDelayMs(n) {
  return Math.min(1000 * 2 ** (n - 1), 30_000);
}

/**
 * `specs`: `[{name, main, env, cwd}]`. `onLine(name, line, stream)` gets every output line;
 * `report(message)` gets supervisor notes (crash, restart, give up); `restartDelay(n)` is the
 * wait before restart n.
 * Returns `{start(), stop(timeoutMs), status(), children}`.
 */
export function createSupervisor(
  specs,
  { onLine, report, maxRestarts = 5, restartDelay = restartDelayMs, execPath = process.execPath },
) {
  const children = new Map(
    specs.map((spec) => [
      spec.name,
      { spec, proc: null, state: 'idle', crashes: 0, startedAt: 0, timer: null },
    ]),
  );
  let stopping = false;

  function launch(child) {
    const { spec } = child;
    // Own process group: a terminal Ctrl-C reaches only us, and we stop children in order.
    const proc = spawn(execPath, [spec.main], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.proc = proc;
    child.state = 'running';
    child.startedAt = Date.now();
    for (const stream of ['stdout', 'stderr']) {
      createInterface({ input: proc[stream], crlfDelay: Infinity }).on('line', (line) =>
        onLine(spec.name, line, stream),
      );
    }
    proc.once('error', (err) => report(`${spec.name}: could not start: ${err.message}`));
    proc.once('exit', (code, signal) => onExit(child, proc, code, signal));
  }

  function onExit(child, proc, code, signal) {
    if (child.proc !== proc) return;
    child.proc = null;
    if (stopping) {
      child.state = 'stopped';
      return;
    }
    const how = signal ? `signal ${signal}` : `code ${code}`;
    child.crashes = Date.now() - child.startedAt >= STABLE_MS ? 1 : child.crashes + 1;
    if (child.crashes > maxRestarts) {
      child.state = 'failed';
      report(
        `${child.spec.name} exited (${how}) ${maxRestarts + 1} times in a row: not restarting it`,
      );
      return;
    }
    const delay = restartDelay(child.crashes);
    child.state = 'restarting';
    report(
      `${child.spec.name} exited (${how}); restart ${child.crashes}/${maxRestarts} in ${delay / 1000} s`,
    );
    child.timer = setTimeout(() => {
      child.timer = null;
      if (!stopping) launch(child);
    }, delay);
  }

  function signalChild(child, sig) {
    try {
      process.kill(-child.proc.pid, sig);
    } catch (err) {
      if (err.code !== 'ESRCH') throw err;
      // Already gone between the check and the signal: nothing to do.
    }
  }

  return {
    children,
    start() {
      for (const child of children.values()) launch(child);
    },
    /** SIGTERM to every running child; SIGKILL to those still running after `timeoutMs`. */
    async stop(timeoutMs = 15_000) {
      stopping = true;
      const running = [];
      for (const child of children.values()) {
        if (child.timer) clearTimeout(child.timer);
        if (child.proc && child.proc.exitCode === null && child.proc.signalCode === null) {
          running.push(child);
        } else if (child.state !== 'failed') {
          child.state = 'stopped';
        }
      }
      const exited = running.map((c) => new Promise((resolve) => c.proc.once('exit', resolve)));
      for (const child of running) signalChild(child, 'SIGTERM');
      let killTimer;
      const timedOut = new Promise((resolve) => {
        killTimer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const outcome = await Promise.race([Promise.all(exited).then(() => 'done'), timedOut]);
      clearTimeout(killTimer);
      if (outcome === 'timeout') {
        const left = running.filter((c) => c.proc);
        report(
          `still running after ${timeoutMs / 1000} s, killing: ${left.map((c) => c.spec.name).join(', ')}`,
        );
        for (const child of left) signalChild(child, 'SIGKILL');
        await Promise.all(exited);
      }
    },
    /** Kills whatever still runs, synchronously (for process 'exit'). */
    killAll() {
      for (const child of children.values()) if (child.proc) signalChild(child, 'SIGKILL');
    },
    status() {
      return [...children.values()].map((c) => ({
        name: c.spec.name,
        state: c.state,
        crashes: c.crashes,
        pid: c.proc?.pid,
      }));
    },
  };
}
