// The firmware registry on the real servers (Postgres, NATS JetStream with its object store) and
// the local artifact store: registration from an upload and from a URL, every refusal before
// anything is stored, expiring download URLs, and reverify of a stored image.
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kysely } from 'kysely';
import { type ObjectStore, type Subscription } from 'nats';
import { type Bus, rpcRequest } from '@drover/bus';
import {
  type CloudEvent,
  FIRMWARE_UPLOAD_BUCKET,
  type Firmware,
  type FirmwareDownloadUrlResponse,
  type FirmwareList,
  FirmwareOps,
  FIRMWARE_SERVICE,
  eventSubject,
} from '@drover/contracts';
import {
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  testNamespace,
  waitFor,
  withTestBus,
} from '@drover/testing';
import { type DB } from '../../src/adapters/postgres/schema';
import { type OtaOrchestrator, startOtaOrchestrator } from '../../src/app';

const TENANT = 'acme';

interface Signer {
  keyId: string;
  privateKey: KeyObject;
  publicPem: string;
}

function signer(keyId: string): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    keyId,
    privateKey,
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

function image(label: string, size = 64 * 1024): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + label.length * 7) & 0xff;
  out.write(label, 0);
  return out;
}

function declaration(bytes: Buffer, by: Signer, version: string) {
  return {
    tenant: TENANT,
    version,
    device_type: 'sensor',
    hardware_models: ['rev-b', 'rev-c'],
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
    signature: sign(null, bytes, by.privateKey).toString('base64'),
    signature_alg: 'ed25519' as const,
    key_id: by.keyId,
  };
}

describe('firmware registry', () => {
  const ns = testNamespace('firmware');
  const schema = `${ns}_ota`;
  const trusted = signer('release-1');
  const stranger = signer('stranger');
  let dir: string;
  let keysFile: string;
  let bus: Bus;
  let db: Kysely<DB>;
  let ota: OtaOrchestrator;
  let os: ObjectStore;
  let events: Subscription;
  const seen: CloudEvent<Record<string, unknown>>[] = [];
  let uploads = 0;

  const call = <T>(op: string, body: unknown) =>
    rpcRequest<T>(bus, FIRMWARE_SERVICE, op, body, { timeoutMs: 20_000 });

  async function upload(bytes: Buffer): Promise<{ bucket: string; name: string }> {
    const name = `upload-${++uploads}`;
    await os.putBlob({ name }, bytes);
    return { bucket: bus.naming.stream(FIRMWARE_UPLOAD_BUCKET), name };
  }

  async function refusal(body: unknown): Promise<{ code: string; status: number }> {
    try {
      await call(FirmwareOps.registerFirmware, body);
    } catch (err) {
      return err as { code: string; status: number };
    }
    throw new Error('registration was not refused');
  }

  /** A deleted object keeps a tombstone in the bucket. */
  const uploadGone = async (name: string) => {
    const info = await os.info(name);
    return info === null || info.deleted;
  };

  const objects = async () => {
    const tenantDir = join(dir, 'objects', TENANT);
    return readdir(tenantDir).catch(() => [] as string[]);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-fw-'));
    keysFile = join(dir, 'trusted-keys.json');
    await writeFile(keysFile, JSON.stringify({ [trusted.keyId]: trusted.publicPem }));
    bus = await withTestBus(ns);
    db = await createTestDb<DB>(schema);
    os = await bus.js.views.os(bus.naming.stream(FIRMWARE_UPLOAD_BUCKET));
    events = bus.nc.subscribe(eventSubject(bus.naming, TENANT, 'firmware', 'registered'));
    void (async () => {
      for await (const m of events) seen.push(m.json());
    })();
    ota = await startOtaOrchestrator({
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      DB_SCHEMA: schema,
      DROVER_NAMESPACE: ns,
      LOG_LEVEL: 'silent',
      OUTBOX_POLL_MS: 50,
      FIRMWARE_ARTIFACT_DIR: join(dir, 'store'),
      FIRMWARE_TRUSTED_KEYS: keysFile,
      FIRMWARE_HTTP_PORT: 0,
      FIRMWARE_URL_SECRET: 'test-secret-of-the-download-urls',
    });
    dir = join(dir, 'store');
  }, 60_000);

  afterAll(async () => {
    events?.unsubscribe();
    await ota?.stop();
    await os?.destroy().catch(() => undefined);
    await cleanupNamespace(ns, { bus, redisUrl: null });
    await bus?.close();
    if (db) await dropTestDb(db, schema);
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  let first: Firmware;
  const firstBytes = image('first');

  it('registers an uploaded image: stored, recorded, announced, upload deleted', async () => {
    const up = await upload(firstBytes);
    first = await call<Firmware>(FirmwareOps.registerFirmware, {
      ...declaration(firstBytes, trusted, '1.2.0'),
      upload: up,
    });
    expect(first).toMatchObject({
      tenant: TENANT,
      version: '1.2.0',
      device_type: 'sensor',
      hardware_models: ['rev-b', 'rev-c'],
      size: firstBytes.length,
      key_id: trusted.keyId,
      sigstore_verified: false,
    });
    const stored = await readFile(join(dir, 'objects', TENANT, `${first.firmware_id}.bin`));
    expect(stored.equals(firstBytes)).toBe(true);
    const row = await db
      .selectFrom('firmware')
      .selectAll()
      .where('firmware_id', '=', first.firmware_id)
      .executeTakeFirstOrThrow();
    expect(Number(row.size)).toBe(firstBytes.length);
    expect(await uploadGone(up.name)).toBe(true);
    await waitFor(() => seen.some((e) => e.subject === first.firmware_id), { timeoutMs: 15_000 });
    const event = seen.find((e) => e.subject === first.firmware_id)!;
    expect(event.type).toBe('drover.firmware.registered.v1');
    expect(event.data).toMatchObject({ version: '1.2.0', sha256: first.sha256 });
    expect(await readdir(join(dir, '.staging'))).toEqual([]);
  });

  it('registers an image fetched from a URL', async () => {
    const bytes = image('from-url', 10_000);
    const server: Server = createServer((_req, res) => res.end(bytes));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fw.bin`;
      const f = await call<Firmware>(FirmwareOps.registerFirmware, {
        ...declaration(bytes, trusted, '1.3.0'),
        url,
      });
      expect(f.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(await objects()).toContain(`${f.firmware_id}.bin`);
    } finally {
      server.close();
    }
  });

  it('registers a version once when two registrations race', async () => {
    const bytes = image('race', 20_000);
    const body = declaration(bytes, trusted, '1.4.0');
    const results = await Promise.allSettled([
      call<Firmware>(FirmwareOps.registerFirmware, { ...body, upload: await upload(bytes) }),
      call<Firmware>(FirmwareOps.registerFirmware, { ...body, upload: await upload(bytes) }),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(ok).toHaveLength(1);
    expect(refused).toEqual([expect.objectContaining({ code: 'firmware_exists', status: 409 })]);
    const rows = await db
      .selectFrom('firmware')
      .select('firmware_id')
      .where('version', '=', '1.4.0')
      .execute();
    expect(rows).toHaveLength(1);
    const files = (await objects()).filter((f) => f === `${rows[0]!.firmware_id}.bin`);
    expect(files).toHaveLength(1);
    expect(await objects()).toHaveLength(3);
  });

  describe('refuses before anything is stored', () => {
    const bytes = image('refused');
    const good = declaration(bytes, trusted, '9.9.9');
    const cases: [string, string, () => Promise<Record<string, unknown>>][] = [
      [
        'a SHA-256 that is not the image',
        'firmware_sha256_mismatch',
        async () => ({ ...good, sha256: 'ab'.repeat(32), upload: await upload(bytes) }),
      ],
      [
        'a size larger than the image',
        'firmware_size_mismatch',
        async () => ({ ...good, size: bytes.length + 1, upload: await upload(bytes) }),
      ],
      [
        'an image larger than declared',
        'firmware_size_mismatch',
        async () => ({ ...good, size: bytes.length - 1, upload: await upload(bytes) }),
      ],
      [
        'a signature by another key',
        'firmware_bad_signature',
        async () => ({
          ...good,
          signature: declaration(bytes, stranger, '9.9.9').signature,
          upload: await upload(bytes),
        }),
      ],
      [
        'a signature over other bytes',
        'firmware_bad_signature',
        async () => {
          const other = image('other');
          return {
            ...good,
            signature: declaration(other, trusted, '9.9.9').signature,
            upload: await upload(bytes),
          };
        },
      ],
      [
        'a key id not in the ring',
        'firmware_unknown_key',
        async () => ({ ...declaration(bytes, stranger, '9.9.9'), upload: await upload(bytes) }),
      ],
      [
        'a version that is not semantic',
        'firmware_bad_version',
        async () => ({ ...good, version: 'v9.9', upload: await upload(bytes) }),
      ],
      [
        'a version already registered',
        'firmware_exists',
        async () => ({ ...declaration(bytes, trusted, '1.2.0'), upload: await upload(bytes) }),
      ],
      [
        'a Sigstore bundle with no trusted root configured',
        'firmware_bad_sigstore_bundle',
        async () => ({ ...good, sigstore_bundle: { mediaType: 'x' }, upload: await upload(bytes) }),
      ],
    ];

    it.each(cases)('%s → %s', async (_why, code, body) => {
      const before = await objects();
      const req = await body();
      const err = await refusal(req);
      expect(err.code).toBe(code);
      expect(err.status).toBeGreaterThanOrEqual(400);
      expect(err.status).toBeLessThan(500);
      expect(await objects()).toEqual(before);
      expect(await readdir(join(dir, '.staging'))).toEqual([]);
      const rows = await db
        .selectFrom('firmware')
        .select('firmware_id')
        .where('version', '=', String(req.version))
        .execute();
      expect(rows.length).toBe(req.version === '1.2.0' ? 1 : 0);
      const up = req.upload as { name: string };
      expect(await uploadGone(up.name)).toBe(true);
    });

    it('an upload that does not exist and a request naming no image', async () => {
      const missing = await refusal({
        ...good,
        upload: { bucket: bus.naming.stream(FIRMWARE_UPLOAD_BUCKET), name: 'never-uploaded' },
      });
      expect(missing.code).toBe('firmware_upload_not_found');
      expect((await refusal(good)).status).toBe(400);
      const foreign = await refusal({ ...good, upload: { bucket: 'OTHER', name: 'x' } });
      expect(foreign.status).toBe(400);
    });
  });

  it('counts registrations by outcome', async () => {
    const metric = await ota.metrics.registry
      .getSingleMetric('drover_firmware_registrations_total')!
      .get();
    const count = (outcome: string) =>
      metric.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
    expect(count('registered')).toBe(3);
    expect(count('firmware_sha256_mismatch')).toBe(1);
    expect(count('firmware_size_mismatch')).toBe(2);
    expect(count('firmware_exists')).toBe(2);
  });

  it('lists newest first with a cursor, and gets one', async () => {
    const page1 = await call<FirmwareList>(FirmwareOps.listFirmware, {
      tenant: TENANT,
      device_type: 'sensor',
      limit: 2,
    });
    expect(page1.items.map((f) => f.version)).toEqual(['1.4.0', '1.3.0']);
    expect(page1.next_cursor).not.toBeNull();
    const page2 = await call<FirmwareList>(FirmwareOps.listFirmware, {
      tenant: TENANT,
      device_type: 'sensor',
      limit: 2,
      cursor: page1.next_cursor,
    });
    expect(page2.items.map((f) => f.version)).toEqual(['1.2.0']);
    expect(page2.next_cursor).toBeNull();
    const got = await call<Firmware>(FirmwareOps.getFirmware, {
      tenant: TENANT,
      firmware_id: first.firmware_id,
    });
    expect(got).toEqual(first);
    const other = await call<FirmwareList>(FirmwareOps.listFirmware, { tenant: 'other' });
    expect(other.items).toEqual([]);
    await expect(
      call(FirmwareOps.getFirmware, { tenant: 'other', firmware_id: first.firmware_id }),
    ).rejects.toMatchObject({ code: 'firmware_not_found', status: 404 });
  });

  it('gives download URLs that serve the image, ranges, and expire', async () => {
    const { url } = await call<FirmwareDownloadUrlResponse>(FirmwareOps.firmwareDownloadUrl, {
      tenant: TENANT,
      firmware_id: first.firmware_id,
      device_id: 'd-1',
      ttl_s: 600,
    });
    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('x-firmware-sha256')).toBe(first.sha256);
    expect(Buffer.from(await whole.arrayBuffer()).equals(firstBytes)).toBe(true);

    const part = await fetch(url, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${firstBytes.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(firstBytes.subarray(100, 200))).toBe(true);

    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(firstBytes.length));
    const beyond = await fetch(url, { headers: { range: `bytes=${firstBytes.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${firstBytes.length}`);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
    expect((await fetch(new URL('/other', url))).status).toBe(404);

    const forged = url.replace('device=d-1', 'device=d-2');
    expect((await fetch(forged)).status).toBe(403);

    const short = await call<FirmwareDownloadUrlResponse>(FirmwareOps.firmwareDownloadUrl, {
      tenant: TENANT,
      firmware_id: first.firmware_id,
      device_id: 'd-1',
      ttl_s: 1,
    });
    await waitFor(async () => (await fetch(short.url)).status === 410, {
      timeoutMs: 15_000,
      intervalMs: 250,
    });
    const expired = await fetch(short.url);
    expect(expired.status).toBe(410);
    expect(await expired.json()).toMatchObject({ error_code: 'download_expired' });
  });

  it('reverify passes an intact image and catches tampering, a missing file and a withdrawn key', async () => {
    const catalog = ota.ctx.catalog;
    const record = (await catalog.get(TENANT, first.firmware_id))!;
    await expect(catalog.reverify(record)).resolves.toBeUndefined();
    const path = join(dir, 'objects', TENANT, `${first.firmware_id}.bin`);

    const tampered = Buffer.from(firstBytes);
    tampered[1000] = (tampered[1000] ?? 0) ^ 0xff;
    await writeFile(path, tampered);
    await expect(catalog.reverify(record)).rejects.toMatchObject({
      code: 'firmware_sha256_mismatch',
    });
    await writeFile(path, Buffer.concat([firstBytes, Buffer.from('x')]));
    await expect(catalog.reverify(record)).rejects.toMatchObject({
      code: 'firmware_size_mismatch',
    });
    await rm(path);
    await expect(catalog.reverify(record)).rejects.toMatchObject({
      code: 'firmware_artifact_missing',
    });
    await writeFile(path, firstBytes);
    await expect(catalog.reverify(record)).resolves.toBeUndefined();

    await writeFile(
      keysFile,
      JSON.stringify({ other: stranger.publicPem, pad: stranger.publicPem }),
    );
    await expect(catalog.reverify(record)).rejects.toMatchObject({ code: 'firmware_unknown_key' });
    await writeFile(keysFile, JSON.stringify({ [trusted.keyId]: trusted.publicPem }));
  });
});
