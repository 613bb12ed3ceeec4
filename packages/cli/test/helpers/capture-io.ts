import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliIo } from '../../src/context';

/** A CliIo that records what the command prints. */
export interface CapturedIo extends CliIo {
  /** Everything written to stdout. */
  out: () => string;
  /** Everything written to stderr. */
  err: () => string;
}

export function captureIo(cwd: string, env: NodeJS.ProcessEnv = {}): CapturedIo {
  let out = '';
  let err = '';
  return {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    env,
    cwd,
    out: () => out,
    err: () => err,
  };
}

/** A temporary directory that looks like the repository root (has pnpm-workspace.yaml). */
export function tempRepo(): { root: string; remove: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'drover-cli-'));
  writeFileSync(join(root, 'pnpm-workspace.yaml'), 'packages: []\n');
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** A port nothing listens on: bound once by the OS, then released. */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
