import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type JSONWebKeySet, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { devKeyPaths } from '../../src/dev-keys';
import { run } from '../../src/program';
import { captureIo, tempRepo } from '../helpers/capture-io';

describe('drover token', () => {
  const repo = tempRepo();
  const paths = devKeyPaths(repo.root);
  mkdirSync(join(repo.root, 'sub'));
  afterAll(() => repo.remove());

  async function token(args: string[]): Promise<{ code: number; out: string; err: string }> {
    // Run from a subdirectory: the key is found by walking up to pnpm-workspace.yaml.
    const io = captureIo(join(repo.root, 'sub'), {});
    const code = await run(['token', ...args], io);
    return { code, out: io.out(), err: io.err() };
  }

  function jwks(): ReturnType<typeof createLocalJWKSet> {
    return createLocalJWKSet(JSON.parse(readFileSync(paths.jwks, 'utf8')) as JSONWebKeySet);
  }

  it('creates the key pair once and signs a token the public JWKS verifies', async () => {
    const first = await token(['--tenant', 'acme', '--scope', 'devices:read  devices:write']);
    expect(first.code).toBe(0);
    expect(first.err).toContain('created the development key pair');
    expect(statSync(paths.privateJwk).mode & 0o777).toBe(0o600);

    const jwt = first.out.trimEnd().split('\n').at(-1) ?? '';
    const { payload, protectedHeader } = await jwtVerify(jwt, jwks(), {
      issuer: 'drover-dev',
      audience: 'drover-api',
      algorithms: ['ES256'],
    });
    expect(payload).toMatchObject({
      tenant: 'acme',
      scope: 'devices:read devices:write',
      sub: 'dev-operator',
    });
    const lifetime = (payload.exp ?? 0) - Math.floor(Date.now() / 1000);
    expect(lifetime).toBeGreaterThan(12 * 3600 - 60);
    expect(lifetime).toBeLessThanOrEqual(12 * 3600);
    const privateJwk = JSON.parse(readFileSync(paths.privateJwk, 'utf8')) as { kid: string };
    expect(protectedHeader.kid).toBe(privateJwk.kid);
  });

  it('reuses the existing key and honours --sub, --ttl and --json', async () => {
    const before = readFileSync(paths.privateJwk, 'utf8');
    const res = await token([
      '--tenant',
      't-2',
      '--scope',
      'admin',
      '--sub',
      'ops',
      '--ttl',
      '30m',
      '--json',
    ]);
    expect(res.code).toBe(0);
    expect(res.err).toBe('');
    expect(readFileSync(paths.privateJwk, 'utf8')).toBe(before);
    const body = JSON.parse(res.out) as { token: string; expires_at: string; scope: string };
    expect(body.scope).toBe('admin');
    const { payload } = await jwtVerify(body.token, jwks(), { audience: 'drover-api' });
    expect(payload).toMatchObject({ tenant: 't-2', sub: 'ops' });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(1800);
    expect(Date.parse(body.expires_at) / 1000).toBeCloseTo(payload.exp ?? 0, -1);
  });

  it('signs with an explicit --key-file', async () => {
    const res = await token([
      '--tenant',
      'acme',
      '--scope',
      'devices:read',
      '--key-file',
      paths.privateJwk,
    ]);
    expect(res.code).toBe(0);
    expect(decodeProtectedHeader(res.out.trim()).alg).toBe('ES256');
  });

  it('warns about unknown scopes but still signs', async () => {
    const res = await token(['--tenant', 'acme', '--scope', 'devices:raed']);
    expect(res.code).toBe(0);
    expect(res.err).toContain('unknown scope devices:raed');
    expect(res.out.trim().split('.')).toHaveLength(3);
  });

  it.each([
    [['--tenant', 'a b', '--scope', 'admin'], 'is not a valid id'],
    [['--tenant', 'acme', '--scope', '  '], 'give at least one scope'],
    [['--scope', 'admin'], "required option '--tenant <tenant>'"],
    [['--tenant', 'acme', '--scope', 'admin', '--ttl', 'forever'], 'expected seconds'],
  ])('fails with exit 1 for %p', async (args, message) => {
    const res = await token(args);
    expect(res.code).toBe(1);
    expect(res.out).toBe('');
    expect(res.err).toContain(message);
  });

  it('explains where the key is looked for outside the repository', async () => {
    const io = captureIo('/', {});
    expect(await run(['token', '--tenant', 'acme', '--scope', 'admin'], io)).toBe(1);
    expect(io.err()).toContain('no Drover repository above /');
  });
});
