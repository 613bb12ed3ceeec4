// Who is calling: built from a verified token's claims.
import { isValidId } from '@drover/contracts';
import { parseScopes } from './scopes';

/** The authenticated caller. */
export interface Principal {
  /** Token subject (user or client id). */
  sub: string;
  /** Tenant every query is scoped to. */
  tenant: string;
  /** Granted scopes. */
  scopes: ReadonlySet<string>;
}

/** The outcome of reading claims. */
export type PrincipalResult = { ok: true; principal: Principal } | { ok: false; detail: string };

/** Longest `sub` accepted (it ends up in rate-limit keys and logs). */
export const MAX_SUB_LENGTH = 256;

/** Checks the claims the API relies on; signature, exp, iss and aud are checked before this. */
export function principalFromClaims(claims: Record<string, unknown>): PrincipalResult {
  const { sub, tenant, scope } = claims;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUB_LENGTH) {
    return { ok: false, detail: 'token has no usable sub claim' };
  }
  if (!isValidId(tenant)) return { ok: false, detail: 'token has no valid tenant claim' };
  return { ok: true, principal: { sub, tenant, scopes: parseScopes(scope) } };
}
