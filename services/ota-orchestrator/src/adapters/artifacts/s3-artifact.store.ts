// The S3 artifact store (FIRMWARE_ARTIFACT_STORE=s3): images are staged on local disk, checked,
// then uploaded with their SHA-256 as an S3 checksum (S3 refuses the object if a byte changed in
// transit). Devices download through presigned GET URLs.
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { type Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  type ArtifactBody,
  type ArtifactMeta,
  type ArtifactRange,
  type ArtifactStore,
} from './artifact-store';

/** Options of {@link S3ArtifactStore}. */
export interface S3ArtifactStoreOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix inside the bucket (default `firmware/`). */
  prefix?: string;
  /** Local directory uploads are staged in. */
  stagingDir: string;
}

function totalSize(contentRange: string | undefined, contentLength: number | undefined): number {
  const m = contentRange === undefined ? null : /\/(\d+)$/.exec(contentRange);
  return m !== null ? Number(m[1]) : (contentLength ?? 0);
}

/** A store in an S3 bucket. */
export class S3ArtifactStore implements ArtifactStore {
  readonly kind = 's3' as const;
  readonly stagingDir: string;
  private readonly prefix: string;

  constructor(private readonly opts: S3ArtifactStoreOptions) {
    this.stagingDir = opts.stagingDir;
    this.prefix = opts.prefix ?? 'firmware/';
  }

  private key(key: string): string {
    return `${this.prefix}${key}`;
  }

  async put(key: string, stagedPath: string, meta: ArtifactMeta): Promise<void> {
    try {
      await this.opts.client.send(
        new PutObjectCommand({
          Bucket: this.opts.bucket,
          Key: this.key(key),
          Body: createReadStream(stagedPath),
          ContentLength: meta.size,
          ContentType: 'application/octet-stream',
          ChecksumSHA256: Buffer.from(meta.sha256, 'hex').toString('base64'),
        }),
      );
    } finally {
      await rm(stagedPath, { force: true });
    }
  }

  async open(key: string, range?: ArtifactRange): Promise<ArtifactBody | null> {
    try {
      const out = await this.opts.client.send(
        new GetObjectCommand({
          Bucket: this.opts.bucket,
          Key: this.key(key),
          ...(range !== undefined && { Range: `bytes=${range.start}-${range.end}` }),
        }),
      );
      return {
        body: out.Body as Readable,
        size: totalSize(out.ContentRange, out.ContentLength),
      };
    } catch (err) {
      if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.opts.client.send(
      new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.key(key) }),
    );
  }

  presignedUrl(key: string, ttlSeconds: number): Promise<string> {
    return getSignedUrl(
      this.opts.client,
      new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(key) }),
      { expiresIn: ttlSeconds },
    );
  }
}
