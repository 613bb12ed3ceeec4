import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

const pkgDir = path.join(__dirname, '..');
const fixture = path.join(__dirname, 'fixtures/signal-service.cjs');

interface Child {
  /** Parsed JSON log lines so far. */
  lines: Record<string, unknown>[];
  /** Resolves once a line matching `pred` was written. */
  waitForLine(pred: (line: Record<string, unknown>) => boolean): Promise<void>;
  /** Sends a signal. */
  kill(signal: NodeJS.Signals): void;
  /** Exit code. */
  exited: Promise<number | null>;
}

function start(env: Record<string, string>): Child {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (line: Record<string, unknown>) => boolean; resolve: () => void }[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (l) => {
    const line = JSON.parse(l) as Record<string, unknown>;
    lines.push(line);
    for (const w of waiters.filter((x) => x.pred(line))) w.resolve();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    lines,
    waitForLine: (pred) =>
      lines.some(pred)
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ pred, resolve })),
    kill: (signal) => child.kill(signal),
    exited,
  };
}

const hooks = (c: Child) =>
  c.lines.filter((l) => l.event === 'fixture.hook').map((l) => `${l.phase}:${l.hook}`);

describe('signal handling (child process on the swc build)', () => {
  beforeAll(() => {
    // The child runs plain Node, so it needs the compiled packages it requires.
    const swc = path.join(pkgDir, '../../node_modules/.bin/swc');
    for (const dir of [pkgDir, path.join(pkgDir, '../observability')]) {
      execFileSync(
        swc,
        ['src', '-d', 'dist', '--strip-leading-paths', '--config-file', '../../.swcrc', '--quiet'],
        { cwd: dir, stdio: 'inherit' },
      );
    }
  }, 60000);

  it('SIGTERM runs every phase in order and exits 0', async () => {
    const c = start({});
    await c.waitForLine((l) => l.event === 'service.started');
    c.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    expect(hooks(c)).toEqual(['intake:http', 'drain:consumer', 'flush:batcher', 'close:pool']);
    expect(c.lines).toContainEqual(
      expect.objectContaining({ event: 'lifecycle.stopping', reason: 'SIGTERM' }),
    );
  });

  it('SIGINT does the same', async () => {
    const c = start({});
    await c.waitForLine((l) => l.event === 'service.started');
    c.kill('SIGINT');
    expect(await c.exited).toBe(0);
    expect(hooks(c)).toHaveLength(4);
  });

  it('a second signal during a stuck shutdown exits 1 at once', async () => {
    const c = start({ FIXTURE_MODE: 'hang', FIXTURE_TIMEOUT_MS: '60000' });
    await c.waitForLine((l) => l.event === 'service.started');
    c.kill('SIGTERM');
    await c.waitForLine((l) => l.event === 'fixture.hook' && l.phase === 'drain');
    c.kill('SIGTERM');
    expect(await c.exited).toBe(1);
    expect(c.lines).toContainEqual(expect.objectContaining({ event: 'lifecycle.forced_exit' }));
    expect(hooks(c)).not.toContain('close:pool');
  });

  it('a shutdown past the timeout exits 1', async () => {
    const c = start({ FIXTURE_MODE: 'hang', FIXTURE_TIMEOUT_MS: '300' });
    await c.waitForLine((l) => l.event === 'service.started');
    c.kill('SIGTERM');
    expect(await c.exited).toBe(1);
    expect(c.lines).toContainEqual(expect.objectContaining({ event: 'lifecycle.stop_timeout' }));
  });

  it('a failing main is logged as fatal and exits 1', async () => {
    const c = start({ FIXTURE_MODE: 'crash' });
    expect(await c.exited).toBe(1);
    expect(c.lines).toContainEqual(
      expect.objectContaining({ level: 'fatal', event: 'service.start_failed' }),
    );
  });
});
