// Verifies bearer tokens (JWT, asymmetric algorithms only) and turns them into a Principal.
import { UnauthorizedError, UnavailableError } from '@drover/service-kit';
import { errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import { type Principal, principalFromClaims } from '../domain/principal';

/**
 * Asymmetric algorithms only: an HMAC algorithm would let anyone holding the public key
 * (which is public) forge tokens, and `none` is no signature at all.
 */
export const ALLOWED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

/** Options of `createTokenVerifier`. */
export interface TokenVerifierOptions {
  /** Resolves the verification key from the token header (a JWKS). */
  getKey: JWTVerifyGetKey;
  /** Required `iss`. */
  issuer: string;
  /** Required `aud` (one of). */
  audience: string;
  /** Seconds of clock skew tolerated on `exp`/`nbf`. */
  clockToleranceSec?: number;
  /** Verified tokens remembered (by their exact text); 0 turns the cache off. */
  cacheSize?: number;
  /** Longest a verified token is remembered, bounded by its own `exp`. */
  cacheTtlMs?: number;
}

/** Verifies a bearer token. */
export interface TokenVerifier {
  /** The caller, or an `UnauthorizedError` (401) / `UnavailableError` (keys unreachable). */
  verify(token: string): Promise<Principal>;
}

/**
 * Builds the verifier. Verified tokens are cached by their exact text until `exp` (at most
 * `cacheTtlMs`): a token is immutable, so the answer cannot change except by key rotation,
 * which then takes effect within `cacheTtlMs`. Failures are never cached.
 */
export function createTokenVerifier(opts: TokenVerifierOptions): TokenVerifier {
  const cacheSize = opts.cacheSize ?? 10_000;
  const cacheTtlMs = opts.cacheTtlMs ?? 60_000;
  const cache =
    cacheSize > 0 ? new LRUCache<string, Principal>({ max: cacheSize, ttl: cacheTtlMs }) : null;
  const verifyOptions = {
    algorithms: [...ALLOWED_ALGORITHMS],
    issuer: opts.issuer,
    audience: opts.audience,
    requiredClaims: ['exp', 'sub'],
    clockTolerance: opts.clockToleranceSec ?? 5,
  };

  return {
    async verify(token) {
      const hit = cache?.get(token);
      if (hit) return hit;
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, opts.getKey, verifyOptions));
      } catch (err) {
        throw mapVerifyError(err);
      }
      const result = principalFromClaims(payload);
      if (!result.ok) throw new UnauthorizedError('unauthorized', result.detail);
      const expMs = (payload.exp as number) * 1000;
      const ttl = Math.min(cacheTtlMs, expMs - Date.now());
      if (cache && ttl > 0) cache.set(token, result.principal, { ttl });
      return result.principal;
    },
  };
}

function mapVerifyError(err: unknown): Error {
  // The key source failing is our problem, not the client's: 503 so clients retry.
  if (err instanceof errors.JWKSTimeout || isFsError(err)) {
    return new UnavailableError('auth_unavailable', 'token keys are unavailable', undefined, {
      cause: err,
    });
  }
  if (err instanceof errors.JWTExpired)
    return new UnauthorizedError('unauthorized', 'token expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    return new UnauthorizedError('unauthorized', `token claim ${err.claim} is invalid`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return new UnauthorizedError('unauthorized', 'token algorithm not allowed');
  }
  if (err instanceof errors.JOSEError)
    return new UnauthorizedError('unauthorized', 'invalid token');
  // Anything else (a fetch failure of a remote JWKS, a corrupt key file) is ours.
  return new UnavailableError('auth_unavailable', 'token verification failed', undefined, {
    cause: err,
  });
}

function isFsError(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { syscall?: unknown }).syscall === 'string'
  );
}
