import { readFileSync, statSync } from 'node:fs';
import { type JSONWebKeySet, calculateJwkThumbprint, createLocalJWKSet, jwtVerify } from 'jose';
import { ensureDevKeys } from '../../../../scripts/lib/dev-keys.mjs';
import { run } from '../../src/program';
import { captureIo, tempRepo } from '../helpers/capture-io';

describe('development keys from npm start', () => {
  const repo = tempRepo();
  afterAll(() => repo.remove());

  it('creates them once, private file 0600, kid = RFC 7638 thumbprint', async () => {
    const first = ensureDevKeys(repo.root);
    expect(first.created).toBe(true);
    expect(statSync(first.paths.privateJwk).mode & 0o777).toBe(0o600);
    const jwk = JSON.parse(readFileSync(first.paths.privateJwk, 'utf8'));
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(jwk.kid).toBe(await calculateJwkThumbprint(jwk, 'sha256'));
    const jwks = JSON.parse(readFileSync(first.paths.jwks, 'utf8'));
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0].d).toBeUndefined();

    const again = ensureDevKeys(repo.root);
    expect(again.created).toBe(false);
    expect(JSON.parse(readFileSync(again.paths.privateJwk, 'utf8'))).toEqual(jwk);
  });

  it('signs CLI tokens the gateway verifies with jwks.json', async () => {
    const { paths } = ensureDevKeys(repo.root);
    const io = captureIo(repo.root);
    expect(await run(['token', '--tenant', 'acme', '--scope', 'devices:read'], io)).toBe(0);
    expect(io.err()).toBe('');
    const set = createLocalJWKSet(JSON.parse(readFileSync(paths.jwks, 'utf8')) as JSONWebKeySet);
    const { payload } = await jwtVerify(io.out().trim(), set, {
      issuer: 'drover-dev',
      audience: 'drover-api',
    });
    expect(payload).toMatchObject({ tenant: 'acme', scope: 'devices:read' });
  });
});
