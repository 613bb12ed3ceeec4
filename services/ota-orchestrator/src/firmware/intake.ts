// Streams an image from its source (the JetStream Object Store upload the api-gateway wrote, or a
// URL) into a staging file, computing SHA-256 and size on the way. It stops as soon as more bytes
// arrive than were declared, so a wrong or hostile upload never fills the disk.
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ReadableStream as WebReadableStream } from 'node:stream/web';
import { type ObjectStore } from 'nats';
import { type FirmwareUpload } from '@drover/contracts';
import { firmwareErrors } from '../domain/firmware-errors';

/** A staged image: its file and what was computed from its bytes. */
export interface StagedImage {
  path: string;
  sha256: string;
  size: number;
}

class TooManyBytes extends Error {}

/** Hashes and counts what passes; fails once more than `limit` bytes went through. */
class Meter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      done(new TooManyBytes());
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }
}

/**
 * Writes `source` to a new file in `dir`; refuses with firmware_size_mismatch when it is longer
 * than `declaredSize` (the file is removed). A shorter image is staged and left to the checks.
 */
export async function stageImage(
  source: Readable,
  dir: string,
  declaredSize: number,
): Promise<StagedImage> {
  const path = join(dir, `${randomUUID()}.part`);
  const meter = new Meter(declaredSize);
  try {
    await pipeline(
      source,
      meter,
      createWriteStream(path, { flags: 'wx', mode: 0o600, flush: true }),
    );
  } catch (err) {
    await rm(path, { force: true });
    if (err instanceof TooManyBytes) {
      throw firmwareErrors.sizeMismatch(declaredSize, `more than ${declaredSize}`);
    }
    throw err;
  }
  return { path, sha256: meter.hash.digest('hex'), size: meter.bytes };
}

/** Reads an upload from the object store; firmware_upload_not_found when it is not there. */
export async function openUpload(
  os: ObjectStore | null,
  upload: FirmwareUpload,
): Promise<Readable> {
  const result = os === null ? null : await os.get(upload.name);
  if (result === null) throw firmwareErrors.uploadNotFound(upload.bucket, upload.name);
  return Readable.fromWeb(result.data as unknown as WebReadableStream<Uint8Array>);
}

/** Fetches an image from a URL (http/https); firmware_fetch_failed when it cannot. */
export async function openUrl(url: string, timeoutMs: number): Promise<Readable> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw firmwareErrors.fetchFailed((err as Error).message);
  }
  if (!res.ok || res.body === null) {
    await res.body?.cancel();
    throw firmwareErrors.fetchFailed(`HTTP ${res.status} from ${new URL(url).host}`);
  }
  return Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
}
