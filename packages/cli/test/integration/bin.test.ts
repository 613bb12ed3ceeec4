// The built `drover` command end to end: bin shim → dist (swc build, as turbo does) → output
// and exit code of a real process.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type JSONWebKeySet, createLocalJWKSet, jwtVerify } from 'jose';
import { devKeyPaths } from '../../src/dev-keys';
import { closedPort, tempRepo } from '../helpers/capture-io';

const cliDir = join(__dirname, '../..');
const bin = join(cliDir, 'bin/drover.js');
const exec = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function drover(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Result> {
  const { DROVER_API: _a, DROVER_TOKEN: _t, ...base } = process.env;
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...args], {
      cwd,
      env: { ...base, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('bin/drover.js', () => {
  const repo = tempRepo();

  beforeAll(() => {
    const swc = join(cliDir, '../../node_modules/.bin/swc');
    const args = ['src', '-d', 'dist', '--strip-leading-paths', '--config-file', '../../.swcrc'];
    execFileSync(swc, [...args, '--quiet'], { cwd: cliDir, stdio: 'pipe' });
    mkdirSync(join(repo.root, 'a', 'b'), { recursive: true });
  });
  afterAll(() => repo.remove());

  it('prints help listing the command groups', async () => {
    const res = await drover(['--help'], repo.root);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Usage: drover/);
    expect(res.stdout).toMatch(/token \[options\]/);
    expect(res.stdout).toMatch(/devices/);
  });

  it('prints a verifiable token alone on the last line, from a subdirectory', async () => {
    const res = await drover(
      ['token', '--tenant', 'acme', '--scope', 'devices:read devices:write'],
      join(repo.root, 'a', 'b'),
    );
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const jwks = JSON.parse(readFileSync(devKeyPaths(repo.root).jwks, 'utf8')) as JSONWebKeySet;
    const { payload } = await jwtVerify(lines[0] ?? '', createLocalJWKSet(jwks), {
      issuer: 'drover-dev',
      audience: 'drover-api',
    });
    expect(payload.scope).toBe('devices:read devices:write');
  });

  it('exits 1 with a clear message when the API is not running', async () => {
    const port = await closedPort();
    const res = await drover(['devices', 'list'], repo.root, {
      DROVER_API: `http://127.0.0.1:${port}`,
      DROVER_TOKEN: 'x',
    });
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr.trim()).toBe(
      `cannot reach the Drover API at http://127.0.0.1:${port} (ECONNREFUSED): ` +
        'is the platform running? (npm start)',
    );
  });

  it('exits 1 on a usage error', async () => {
    const res = await drover(['devices', 'get'], repo.root);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("missing required argument 'device-id'");
  });
});
