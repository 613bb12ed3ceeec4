// The development JWT key pair under .drover/dev/, created once with node:crypto (no deps).
// Same format as packages/cli/src/dev-keys.ts: the private key is one JWK with kid (RFC 7638
// thumbprint), alg ES256, use sig, mode 0600; jwks.json holds its public half for the gateway.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function devKeyPaths(root) {
  const dir = join(root, '.drover', 'dev');
  return { dir, privateJwk: join(dir, 'jwt-private.jwk.json'), jwks: join(dir, 'jwks.json') };
}

/** RFC 7638 thumbprint of an EC key: SHA-256 over the required members in sorted order. */
export function jwkThumbprint({ crv, kty, x, y }) {
  return createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
}

function publicJwk({ kty, crv, x, y, kid }) {
  return { kty, crv, x, y, kid, alg: 'ES256', use: 'sig' };
}

/**
 * Creates the key pair unless it exists; rewrites jwks.json from the private key when it is
 * missing. Returns `{paths, created}`.
 */
export function ensureDevKeys(root) {
  const paths = devKeyPaths(root);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  let created = false;
  let jwk;
  if (existsSync(paths.privateJwk)) {
    jwk = JSON.parse(readFileSync(paths.privateJwk, 'utf8'));
  } else {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const exported = privateKey.export({ format: 'jwk' });
    jwk = { ...exported, kid: jwkThumbprint(exported), alg: 'ES256', use: 'sig' };
    writeFileSync(paths.privateJwk, `${JSON.stringify(jwk, null, 2)}\n`, { mode: 0o600 });
    created = true;
  }
  if (created || !existsSync(paths.jwks)) {
    writeFileSync(paths.jwks, `${JSON.stringify({ keys: [publicJwk(jwk)] }, null, 2)}\n`);
  }
  return { paths, created };
}
