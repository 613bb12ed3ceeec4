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

/** Where the development firmware signing key lives. */
export interface FirmwareKeyFiles {
  /** `.drover/dev`. */
  dir: string;
  /** The ed25519 private key, PKCS#8 PEM (mode 0600). */
  privatePem: string;
  /** `{"<key_id>": "<SPKI PEM>"}`: the orchestrator's trusted key ring in development. */
  trustedKeys: string;
}

export function firmwareKeyPaths(root: string): FirmwareKeyFiles;
export function okpThumbprint(jwk: { crv?: string; kty?: string; x?: string }): string;
export function ensureFirmwareDevKey(root: string): {
  paths: FirmwareKeyFiles;
  keyId: string;
  publicPem: string;
  created: boolean;
};

/** A random development secret in `.drover/dev/<name>` (created once, mode 0600). */
export function ensureDevSecret(root: string, name: string): string;
