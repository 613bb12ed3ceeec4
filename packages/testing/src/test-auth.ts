import http from 'node:http';
import { type AddressInfo } from 'node:net';
import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';

/** Options of {@link createTestAuth}. */
export interface TestAuthOptions {
  /** `iss` of signed tokens (default `https://auth.drover.test/`). */
  issuer?: string;
  /** `aud` of signed tokens (default `drover-api`). */
  audience?: string;
  /** Key id in the JWKS and token headers (default `test-key-1`). */
  kid?: string;
}

/** Options of one {@link TestAuth.sign} call. */
export interface SignOptions {
  /** Lifetime, e.g. `'1h'` or seconds-from-epoch; default `'1h'`. */
  expiresIn?: string | number;
  /** Overrides the issuer for this token. */
  issuer?: string;
  /** Overrides the audience for this token. */
  audience?: string;
  /** Overrides the `kid` header (e.g. an unknown key). */
  kid?: string;
}

/** A throwaway identity provider: ES256 keys, a JWKS over HTTP, and a token signer. */
export interface TestAuth {
  /** URL of the JWKS document (`http://127.0.0.1:<port>/.well-known/jwks.json`). */
  jwksUrl: string;
  /** Issuer put into tokens. */
  issuer: string;
  /** Audience put into tokens. */
  audience: string;
  /** The public key as published in the JWKS. */
  publicJwk: JWK;
  /** The private key, to sign unusual tokens by hand. */
  privateKey: CryptoKey;
  /** Signs `claims` (e.g. `{sub, tenant, scope}`) with iss/aud/iat/exp defaults. */
  sign(claims: JWTPayload, opts?: SignOptions): Promise<string>;
  /** How many times the JWKS was fetched (to test caching). */
  jwksRequests(): number;
  /** Stops the JWKS server. */
  close(): Promise<void>;
}

/** Generates an ES256 key pair and serves its JWKS on a free port. */
export async function createTestAuth(opts: TestAuthOptions = {}): Promise<TestAuth> {
  const issuer = opts.issuer ?? 'https://auth.drover.test/';
  const audience = opts.audience ?? 'drover-api';
  const kid = opts.kid ?? 'test-key-1';
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const body = JSON.stringify({ keys: [publicJwk] });
  let requests = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    issuer,
    audience,
    publicJwk,
    privateKey,
    sign: (claims, o = {}) => {
      // Defaults first, so a test can put its own (e.g. a wrong) iss, aud or exp in `claims`.
      const payload: JWTPayload = {
        iss: o.issuer ?? issuer,
        aud: o.audience ?? audience,
        ...claims,
      };
      const jwt = new SignJWT(payload)
        .setProtectedHeader({ alg: 'ES256', kid: o.kid ?? kid, typ: 'JWT' })
        .setIssuedAt(claims.iat ?? undefined);
      if (claims.exp === undefined) jwt.setExpirationTime(o.expiresIn ?? '1h');
      return jwt.sign(privateKey);
    },
    jwksRequests: () => requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
