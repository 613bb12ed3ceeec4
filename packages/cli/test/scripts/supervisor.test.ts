import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSupervisor, restartDelayMs } from '../../../../scripts/lib/supervisor.mjs';
import { tempRepo } from '../helpers/capture-io';

// Small real child processes: one that stops on SIGTERM, one that crashes, one that ignores
// SIGTERM.
const CHILDREN = {
  'steady.js': `
    console.log(JSON.stringify({ level: 30, msg: 'up', pid: process.pid }));
    process.on('SIGTERM', () => { console.log('bye'); process.exit(0); });
    setInterval(() => undefined, 1000);`,
  'crash.js': `console.error('boom'); process.exit(3);`,
  'stubborn.js': `
    process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
    console.log('up');
    setInterval(() => undefined, 1000);`,
};

/** Collects lines and reports and lets a test await the first one that matches. */
function recorder() {
  const seen: string[] = [];
  const waiters: Array<{ test: (s: string) => boolean; resolve: () => void }> = [];
  const add = (entry: string): void => {
    seen.push(entry);
    for (const w of waiters.filter((w) => w.test(entry))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const waitFor = (test: (s: string) => boolean): Promise<void> =>
    seen.some(test) ? Promise.resolve() : new Promise((resolve) => waiters.push({ test, resolve }));
  return { seen, add, waitFor };
}

describe('the npm start supervisor', () => {
  const repo = tempRepo();
  const spec = (name: string, file: keyof typeof CHILDREN) => ({
    name,
    main: join(repo.root, file),
    cwd: repo.root,
    env: { PATH: process.env.PATH },
  });
  beforeAll(() => {
    for (const [file, code] of Object.entries(CHILDREN)) writeFileSync(join(repo.root, file), code);
  });
  afterAll(() => repo.remove());

  it('restarts a crashing child with back-off, gives up after the limit, stops the others', async () => {
    const rec = recorder();
    const sup = createSupervisor([spec('steady', 'steady.js'), spec('crash', 'crash.js')], {
      onLine: (name, line, stream) => rec.add(`${name}/${stream}: ${line}`),
      report: (msg) => rec.add(`report: ${msg}`),
      maxRestarts: 2,
      restartDelay: () => 10,
    });
    sup.start();
    await rec.waitFor((s) => s.includes('not restarting it'));
    await rec.waitFor((s) => s.startsWith('steady/stdout: {"level":30,"msg":"up"'));

    const reports = rec.seen.filter((s) => s.startsWith('report:'));
    expect(reports).toEqual([
      'report: crash exited (code 3); restart 1/2 in 0.01 s',
      'report: crash exited (code 3); restart 2/2 in 0.01 s',
      'report: crash exited (code 3) 3 times in a row: not restarting it',
    ]);
    expect(rec.seen.filter((s) => s === 'crash/stderr: boom')).toHaveLength(3);
    expect(sup.status().map((s) => [s.name, s.state])).toEqual([
      ['steady', 'running'],
      ['crash', 'failed'],
    ]);

    await sup.stop(5000);
    expect(rec.seen).toContain('steady/stdout: bye');
    expect(sup.status().map((s) => [s.name, s.state])).toEqual([
      ['steady', 'stopped'],
      ['crash', 'failed'],
    ]);
  });

  it('kills a child that ignores SIGTERM after the timeout', async () => {
    const rec = recorder();
    const sup = createSupervisor([spec('stubborn', 'stubborn.js')], {
      onLine: (name, line) => rec.add(`${name}: ${line}`),
      report: (msg) => rec.add(`report: ${msg}`),
    });
    sup.start();
    await rec.waitFor((s) => s === 'stubborn: up');
    await sup.stop(300);
    expect(rec.seen).toContain('report: still running after 0.3 s, killing: stubborn');
    expect(sup.status()[0]).toMatchObject({ state: 'stopped', pid: undefined });
  });

  it('backs off 1 s, 2 s, 4 s … up to 30 s', () => {
    expect([1, 2, 3, 5, 6, 10].map(restartDelayMs)).toEqual([
      1000, 2000, 4000, 16000, 30000, 30000,
    ]);
  });
});
