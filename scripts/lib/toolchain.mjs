// pnpm 12.4.2 (as scripts/ensure-pnpm.sh), install when needed, and the turbo build.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const PNPM_VERSION = '12.4.2';

function pnpmVersion() {
  const res = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  return res.status === 0 ? res.stdout.trim() : null;
}

/**
 * Returns how to run pnpm: `{cmd, args}` to prefix. Installs pnpm globally when the right
 * version is missing; if that fails (no permission), falls back to `npx -y pnpm@…`.
 */
export function ensurePnpm(log) {
  if (pnpmVersion() === PNPM_VERSION) return { cmd: 'pnpm', args: [] };
  log(`installing pnpm ${PNPM_VERSION} (npm i -g pnpm@${PNPM_VERSION})`);
  const res = spawnSync('npm', ['install', '-g', `pnpm@${PNPM_VERSION}`], { stdio: 'ignore' });
  if (res.status === 0 && pnpmVersion() === PNPM_VERSION) return { cmd: 'pnpm', args: [] };
  log(`could not install pnpm globally; using npx -y pnpm@${PNPM_VERSION}`);
  return { cmd: 'npx', args: ['-y', `pnpm@${PNPM_VERSION}`] };
}

/** Whether `pnpm install` is due: no node_modules, or the lockfile changed since the last one. */
export function needsInstall(root) {
  const marker = join(root, 'node_modules', '.modules.yaml');
  if (!existsSync(marker)) return true;
  return statSync(join(root, 'pnpm-lock.yaml')).mtimeMs > statSync(marker).mtimeMs;
}

/** Runs a command with inherited stdio; resolves with its exit code. */
export function runInherited(cmd, args, { cwd, env = process.env } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: 'inherit' });
    child.once('error', (err) => {
      console.error(`${cmd}: ${err.message}`);
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** Runs pnpm (however ensurePnpm found it) with `args`. */
export function runPnpm(pnpm, args, opts) {
  return runInherited(pnpm.cmd, [...pnpm.args, ...args], opts);
}
