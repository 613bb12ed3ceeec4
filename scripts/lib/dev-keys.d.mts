// Types for dev-keys.mjs.

/** Where the development keys live. */
export interface DevKeyFiles {
  /** `.drover/dev`. */
  dir: string;
  /** The private JWK (mode 0600). */
  privateJwk: string;
  /** The public JWKS for the gateway. */
  jwks: string;
}

export function devKeyPaths(root: string): DevKeyFiles;
export function jwkThumbprint(jwk: { crv?: string; kty?: string; x?: string; y?: string }): string;
export function ensureDevKeys(root: string): { paths: DevKeyFiles; created: boolean };
