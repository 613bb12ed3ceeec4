// Where registered firmware images live. An upload is first staged in a local file (hashed while
// written), checked, and only then put into the store under its final key, so a refused image
// never reaches the store.
import { type Readable } from 'node:stream';

/** What is known of an image when it is put. */
export interface ArtifactMeta {
  /** Bytes. */
  size: number;
  /** Lower-case hex SHA-256. */
  sha256: string;
}

/** An inclusive byte range. */
export interface ArtifactRange {
  start: number;
  end: number;
}

/** A stored image being read. */
export interface ArtifactBody {
  /** The bytes (of the range when one was asked). */
  body: Readable;
  /** Size of the whole object. */
  size: number;
}

/** An artifact store (local directory or S3). */
export interface ArtifactStore {
  /** `local` or `s3`. */
  readonly kind: 'local' | 's3';
  /** Directory uploads are staged in before they are put (same filesystem for `local`). */
  readonly stagingDir: string;
  /** Stores the staged file under `key` (the staged file is consumed). */
  put(key: string, stagedPath: string, meta: ArtifactMeta): Promise<void>;
  /** Reads an object (or a range of it); null when there is none. */
  open(key: string, range?: ArtifactRange): Promise<ArtifactBody | null>;
  /** Removes an object (no error when it is absent). */
  delete(key: string): Promise<void>;
  /** A presigned GET URL valid for `ttlSeconds` (S3 only). */
  presignedUrl?(key: string, ttlSeconds: number): Promise<string>;
}

/** Object keys are `<tenant>/<firmware_id>.bin`: ids only, so no path tricks. */
export function artifactKey(tenant: string, firmwareId: string): string {
  for (const part of [tenant, firmwareId]) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(part)) throw new Error(`bad artifact key part ${part}`);
  }
  return `${tenant}/${firmwareId}.bin`;
}
