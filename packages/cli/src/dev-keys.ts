import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type JWK,
  SignJWT,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
} from 'jose';

/** The issuer and audience of development tokens; the gateway expects the same in development. */
export const DEV_ISSUER = 'drover-dev';
export const DEV_AUDIENCE = 'drover-api';
export const DEV_ALG = 'ES256';

/** Where the development keys live below the repository root (npm start creates them). */
export interface DevKeyPaths {
  /** The directory, `.drover/dev`. */
  dir: string;
  /** The private key: one JWK with `kid`, mode 0600. */
  privateJwk: string;
  /** The public key set the gateway reads (AUTH_JWKS_FILE). */
  jwks: string;
}

export function devKeyPaths(root: string): DevKeyPaths {
  const dir = join(root, '.drover', 'dev');
  return { dir, privateJwk: join(dir, 'jwt-private.jwk.json'), jwks: join(dir, 'jwks.json') };
}

/** The public half of a private EC JWK, with the fields a JWKS entry carries. */
export function publicJwk(jwk: JWK): JWK {
  const { kty, crv, x, y, kid } = jwk;
  return { kty, crv, x, y, kid, alg: DEV_ALG, use: 'sig' };
}

/**
 * Reads the development private key, creating the pair first if it does not exist yet (the
 * same format scripts/lib/dev-keys.mjs writes), so `drover token` works before `npm start`.
 */
export async function loadOrCreateDevKey(
  paths: DevKeyPaths,
): Promise<{ jwk: JWK; created: boolean }> {
  let jwk: JWK;
  let created = false;
  if (existsSync(paths.privateJwk)) {
    jwk = readDevKey(paths.privateJwk);
  } else {
    jwk = await createDevKey(paths);
    created = true;
  }
  // The public set is derived from the private key, so a lost jwks.json is simply rewritten.
  if (!existsSync(paths.jwks)) writeJwks(paths, jwk);
  return { jwk, created };
}

/** Reads a private JWK file and checks it is a P-256 key with a kid. */
export function readDevKey(file: string): JWK {
  const jwk = JSON.parse(readFileSync(file, 'utf8')) as JWK;
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d || !jwk.kid) {
    throw new Error(`${file} is not a P-256 private JWK with a kid`);
  }
  return jwk;
}

async function createDevKey(paths: DevKeyPaths): Promise<JWK> {
  const { privateKey } = await generateKeyPair(DEV_ALG, { extractable: true });
  const exported = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(exported, 'sha256');
  const jwk: JWK = { ...exported, kid, alg: DEV_ALG, use: 'sig' };
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  try {
    // 'wx': if npm start wrote a key at the same moment, keep theirs.
    writeFileSync(paths.privateJwk, `${JSON.stringify(jwk, null, 2)}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readDevKey(paths.privateJwk);
  }
  writeJwks(paths, jwk);
  return jwk;
}

function writeJwks(paths: DevKeyPaths, jwk: JWK): void {
  writeFileSync(paths.jwks, `${JSON.stringify({ keys: [publicJwk(jwk)] }, null, 2)}\n`);
}

/** The claims of a development token. */
export interface DevTokenClaims {
  /** The tenant every request is scoped to. */
  tenant: string;
  /** Space-separated scopes. */
  scope: string;
  /** The subject (who acts). */
  sub: string;
  /** Lifetime in seconds. */
  ttlSeconds: number;
}

/** Signs an ES256 JWT with iss drover-dev, aud drover-api and the key's kid in the header. */
export async function signDevToken(jwk: JWK, claims: DevTokenClaims): Promise<string> {
  const key = await importJWK({ ...jwk, alg: DEV_ALG }, DEV_ALG);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ tenant: claims.tenant, scope: claims.scope })
    .setProtectedHeader({ alg: DEV_ALG, kid: jwk.kid, typ: 'JWT' })
    .setIssuer(DEV_ISSUER)
    .setAudience(DEV_AUDIENCE)
    .setSubject(claims.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + claims.ttlSeconds)
    .sign(key);
}
