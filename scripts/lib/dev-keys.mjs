// The development JWT key pair under .drover/dev/, created once with node:crypto (no deps).
// Same format as packages/cli/src/dev-keys.ts: the private key is one JWK with kid (RFC 7638
// thumbprint), alg ES256, use sig, mode 0600; jwks.json holds its public half for the gateway.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
} from 'node:crypto';
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

// The development firmware signing key (ed25519), next to the JWT key. `drover firmware sign`
// signs with it by default and `npm start` puts its public half into the orchestrator's trusted
// key ring (FIRMWARE_TRUSTED_KEYS), so firmware signed on this machine verifies out of the box.
// Same format as packages/cli/src/firmware-keys.ts: PKCS#8 PEM, mode 0600; the key id is the
// RFC 7638 thumbprint of the public OKP JWK.

export function firmwareKeyPaths(root) {
  const dir = join(root, '.drover', 'dev');
  return {
    dir,
    privatePem: join(dir, 'firmware-signing-key.pem'),
    trustedKeys: join(dir, 'firmware-trusted-keys.json'),
  };
}

/** RFC 7638 thumbprint of an OKP (Ed25519) key. */
export function okpThumbprint({ crv, kty, x }) {
  return createHash('sha256').update(JSON.stringify({ crv, kty, x })).digest('base64url');
}

/**
 * Creates the firmware signing key unless it exists and (re)writes the trusted key file
 * `{"<key_id>": "<SPKI PEM>"}` from it. Returns `{paths, keyId, publicPem, created}`.
 */
export function ensureFirmwareDevKey(root) {
  const paths = firmwareKeyPaths(root);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  let created = false;
  let privateKey;
  if (existsSync(paths.privatePem)) {
    privateKey = createPrivateKey(readFileSync(paths.privatePem, 'utf8'));
  } else {
    privateKey = generateKeyPairSync('ed25519').privateKey;
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' });
    writeFileSync(paths.privatePem, pem, { mode: 0o600 });
    created = true;
  }
  const publicKey = createPublicKey(privateKey);
  const keyId = okpThumbprint(publicKey.export({ format: 'jwk' }));
  const publicPem = publicKey.export({ format: 'pem', type: 'spki' });
  writeFileSync(paths.trustedKeys, `${JSON.stringify({ [keyId]: publicPem }, null, 2)}\n`);
  return { paths, keyId, publicPem, created };
}

/**
 * A random development secret under .drover/dev/<name> (hex, mode 0600), created once, so a
 * value that must outlive a restart (the firmware download URL key) stays the same.
 */
export function ensureDevSecret(root, name) {
  const dir = join(root, '.drover', 'dev');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, name);
  if (!existsSync(file))
    writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}
