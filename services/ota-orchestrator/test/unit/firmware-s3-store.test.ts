// The S3 artifact store against a mocked S3 (aws-sdk-client-mock): what it sends, how it reads a
// missing object, and its presigned URLs.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { artifactKey } from '../../src/adapters/artifacts/artifact-store';
import { S3ArtifactStore } from '../../src/adapters/artifacts/s3-artifact.store';

describe('S3ArtifactStore', () => {
  const client = new S3Client({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'secret' },
  });
  const s3 = mockClient(client);
  let dir: string;
  let store: S3ArtifactStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-s3-'));
    store = new S3ArtifactStore({ client, bucket: 'fw-bucket', stagingDir: dir });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  beforeEach(() => s3.reset());

  it('puts a staged file with its size and SHA-256 checksum, then removes the staged file', async () => {
    const bytes = Buffer.from('an image');
    const staged = join(dir, 'a.part');
    await writeFile(staged, bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    s3.on(PutObjectCommand).resolves({});
    await store.put('acme/01F.bin', staged, { size: bytes.length, sha256 });
    const input = s3.commandCalls(PutObjectCommand)[0]!.args[0].input;
    expect(input).toMatchObject({
      Bucket: 'fw-bucket',
      Key: 'firmware/acme/01F.bin',
      ContentLength: bytes.length,
      ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
    });
    expect(existsSync(staged)).toBe(false);
  });

  it('removes the staged file even when the put fails', async () => {
    const staged = join(dir, 'b.part');
    await writeFile(staged, 'x');
    s3.on(PutObjectCommand).rejects(new Error('throttled'));
    await expect(
      store.put('acme/01G.bin', staged, { size: 1, sha256: '0'.repeat(64) }),
    ).rejects.toThrow('throttled');
    expect(existsSync(staged)).toBe(false);
  });

  it('reads an object and a range, with the whole size', async () => {
    s3.on(GetObjectCommand, { Key: 'firmware/acme/01F.bin', Range: 'bytes=2-4' }).resolves({
      // The SDK's stream mixin is not needed: the store reads Body as a Node stream.
      Body: Readable.from([Buffer.from('ima')]) as never,
      ContentLength: 3,
      ContentRange: 'bytes 2-4/8',
    });
    s3.on(GetObjectCommand, { Key: 'firmware/acme/01F.bin', Range: undefined }).resolves({
      Body: Readable.from([Buffer.from('an image')]) as never,
      ContentLength: 8,
    });
    const part = await store.open('acme/01F.bin', { start: 2, end: 4 });
    expect(part!.size).toBe(8);
    const whole = await store.open('acme/01F.bin');
    expect(whole!.size).toBe(8);
    const chunks: Buffer[] = [];
    for await (const c of whole!.body) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('an image');
  });

  it('reads a missing object as null and passes other errors on', async () => {
    s3.on(GetObjectCommand, { Key: 'firmware/acme/none.bin' }).rejects(
      new NoSuchKey({ message: 'no such key', $metadata: {} }),
    );
    expect(await store.open('acme/none.bin')).toBeNull();
    s3.on(GetObjectCommand, { Key: 'firmware/acme/err.bin' }).rejects(new Error('denied'));
    await expect(store.open('acme/err.bin')).rejects.toThrow('denied');
  });

  it('deletes and presigns', async () => {
    s3.on(DeleteObjectCommand).resolves({});
    await store.delete('acme/01F.bin');
    expect(s3.commandCalls(DeleteObjectCommand)[0]!.args[0].input).toEqual({
      Bucket: 'fw-bucket',
      Key: 'firmware/acme/01F.bin',
    });
    const url = new URL(await store.presignedUrl('acme/01F.bin', 900));
    expect(url.pathname).toBe('/firmware/acme/01F.bin');
    expect(url.hostname).toContain('fw-bucket');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('names objects by tenant and firmware id only', () => {
    expect(artifactKey('acme', '01F')).toBe('acme/01F.bin');
    expect(() => artifactKey('../x', '01F')).toThrow(/bad artifact key/);
  });
});
