// Token scopes and the rule that decides whether a caller may use a route.

/** Every scope a token may carry (API.md). */
export const SCOPES = [
  'devices:read',
  'devices:write',
  'provisioning:write',
  'telemetry:read',
  'commands:write',
  'firmware:read',
  'firmware:write',
  'deployments:write',
  'admin',
] as const;

/** One of `SCOPES`. */
export type Scope = (typeof SCOPES)[number];

/** The scope that grants every other one. */
export const ADMIN_SCOPE: Scope = 'admin';

/**
 * Splits the `scope` claim (space separated, RFC 8693) into a set. Anything but a string grants
 * nothing: a token with a malformed claim is treated as scopeless rather than rejected, so the
 * answer is a 403 that names the missing scope.
 */
export function parseScopes(claim: unknown): ReadonlySet<string> {
  if (typeof claim !== 'string') return new Set();
  return new Set(claim.split(/\s+/).filter((s) => s.length > 0));
}

/** Whether `granted` allows `required`; `admin` implies every scope. */
export function hasScope(granted: ReadonlySet<string>, required: Scope): boolean {
  return granted.has(required) || granted.has(ADMIN_SCOPE);
}
