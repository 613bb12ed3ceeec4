// The firmware registry: registration (stream the upload into a staging file while hashing, run
// every check, then store and record it with its firmware.registered event in one transaction),
// reads, re-verification of a stored image, and expiring download URLs. It is the
// FirmwareCatalog the rollout engine reads firmware through.
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { type Readable } from 'node:stream';
import { type Kysely } from 'kysely';
import { type ObjectStore } from 'nats';
import { type Bus } from '@drover/bus';
import {
  FIRMWARE_UPLOAD_BUCKET,
  type Firmware,
  type FirmwareDownloadUrlRequest,
  type FirmwareDownloadUrlResponse,
  type FirmwareList,
  FirmwareRegisteredV1,
  type GetFirmwareRequest,
  type ListFirmwareRequest,
  type RegisterFirmwareRequest,
  createEvent,
  newUlid,
} from '@drover/contracts';
import { getContext, type Logger, type Metrics } from '@drover/observability';
import { ValidationError } from '@drover/service-kit';
import {
  type ArtifactRange,
  type ArtifactStore,
  artifactKey,
} from '../adapters/artifacts/artifact-store';
import { outboxEvents } from '../adapters/postgres/outbox';
import { type DB } from '../adapters/postgres/schema';
import { SERVICE_NAME } from '../service/ota.context';
import {
  checkDigest,
  checkSignature,
  decodeSignature,
  trustedKey,
} from '../domain/firmware-checks';
import { normalizeHardwareModels } from '../domain/firmware-compat';
import { signDownloadPath } from '../domain/firmware-download-token';
import { firmwareErrors } from '../domain/firmware-errors';
import { parseFirmwareVersion } from '../domain/firmware-version';
import { type FirmwareCatalog, type FirmwareRecord } from './firmware.catalog';
import {
  FirmwareRepository,
  type StoredFirmware,
  isUniqueViolation,
  toFirmware,
} from './firmware.repository';
import { openUpload, openUrl, stageImage } from './intake';
import { type KeyRingSource } from './key-ring.source';
import { type SigstoreVerifier } from './sigstore.verifier';

/** Collaborators and settings of the registry. */
export interface FirmwareRegistryOptions {
  db: Kysely<DB>;
  bus: Bus;
  store: ArtifactStore;
  keyRing: KeyRingSource;
  /** Set when FIRMWARE_SIGSTORE_TRUSTED_ROOT is configured. */
  sigstore: SigstoreVerifier | null;
  logger: Logger;
  notifyOutbox: () => void;
  /** Public base URL of the download endpoint (local store), e.g. `http://127.0.0.1:8090`. */
  publicUrl: () => string;
  /** HMAC key of download URLs. */
  urlSecret: Buffer;
  /** Largest image accepted (bytes; the signature check reads the image into memory once). */
  maxBytes: number;
  /** Timeout of fetching a `url` image. */
  fetchTimeoutMs: number;
  /** Clock. */
  now?: () => Date;
  /** Metrics registry (registrations by outcome and their duration). */
  metrics?: Metrics;
}

const LIST_DEFAULT = 50;

/** The registry. */
export class FirmwareRegistry implements FirmwareCatalog {
  private readonly repo: FirmwareRepository;
  private readonly now: () => Date;

  constructor(private readonly opts: FirmwareRegistryOptions) {
    this.repo = new FirmwareRepository(opts.db);
    this.now = opts.now ?? (() => new Date());
  }

  /** The namespaced object store bucket uploads are read from. */
  get uploadBucket(): string {
    return this.opts.bus.naming.stream(FIRMWARE_UPLOAD_BUCKET);
  }

  /**
   * Registers an image. Every check that needs no bytes runs first; then the image is staged and
   * hashed; nothing reaches the artifact store or the table unless every check passed. The upload
   * object is deleted in every case.
   */
  async register(req: RegisterFirmwareRequest): Promise<Firmware> {
    const started = process.hrtime.bigint();
    let outcome = 'registered';
    try {
      return await this.registerChecked(req);
    } catch (err) {
      outcome = (err as { code?: string }).code ?? 'error';
      throw err;
    } finally {
      this.opts.metrics
        ?.counter('drover_firmware_registrations_total', 'Firmware registrations by outcome', [
          'outcome',
        ])
        .inc({ outcome });
      this.opts.metrics
        ?.histogram('drover_firmware_registration_seconds', 'Time to register an image')
        .observe(Number(process.hrtime.bigint() - started) / 1e9);
      if (req.upload !== undefined && req.upload.bucket === this.uploadBucket) {
        await this.deleteUpload(req.upload.name);
      }
    }
  }

  private async registerChecked(req: RegisterFirmwareRequest): Promise<Firmware> {
    if ((req.upload === undefined) === (req.url === undefined)) {
      throw new ValidationError('firmware_source', 'give exactly one of upload or url');
    }
    if (req.upload !== undefined && req.upload.bucket !== this.uploadBucket) {
      throw new ValidationError(
        'firmware_source',
        `uploads are read from bucket ${this.uploadBucket} only`,
      );
    }
    const version = parseFirmwareVersion(req.version);
    const ring = this.opts.keyRing.current();
    trustedKey(ring, req.key_id);
    decodeSignature(req);
    if (req.size > this.opts.maxBytes) throw firmwareErrors.tooLarge(req.size, this.opts.maxBytes);
    if (req.sigstore_bundle !== undefined && this.opts.sigstore === null) {
      throw firmwareErrors.badSigstoreBundle(
        'no trusted root is configured (FIRMWARE_SIGSTORE_TRUSTED_ROOT)',
      );
    }
    if ((await this.repo.findByVersion(req.tenant, req.device_type, version)) !== null) {
      throw firmwareErrors.exists(req.device_type, version);
    }

    const source: Readable =
      req.upload !== undefined
        ? await openUpload(await this.objectStore(), req.upload)
        : await openUrl(req.url!, this.opts.fetchTimeoutMs);
    const staged = await stageImage(source, this.opts.store.stagingDir, req.size);
    let stored = false;
    try {
      checkDigest(req, staged);
      const image = await readFile(staged.path);
      checkSignature(ring, req, image);
      if (req.sigstore_bundle !== undefined) this.opts.sigstore!.verify(req.sigstore_bundle, image);

      const firmwareId = newUlid();
      const record: StoredFirmware = {
        firmware_id: firmwareId,
        tenant: req.tenant,
        version,
        device_type: req.device_type,
        hardware_models: normalizeHardwareModels(req.hardware_models),
        sha256: staged.sha256,
        size: staged.size,
        signature: req.signature,
        signature_alg: 'ed25519',
        key_id: req.key_id,
        sigstore_verified: req.sigstore_bundle !== undefined,
        artifact_key: artifactKey(req.tenant, firmwareId),
        created_at: this.now().toISOString(),
      };
      await this.opts.store.put(record.artifact_key, staged.path, staged);
      stored = true;
      try {
        await this.opts.db.transaction().execute(async (trx) => {
          await this.repo.insert(trx, record);
          await outboxEvents(trx, [this.registeredEvent(record)]);
        });
      } catch (err) {
        await this.opts.store.delete(record.artifact_key);
        if (isUniqueViolation(err)) throw firmwareErrors.exists(req.device_type, version);
        throw err;
      }
      this.opts.notifyOutbox();
      this.opts.logger.info(
        {
          event: 'firmware.registered',
          firmware_id: firmwareId,
          version,
          device_type: req.device_type,
          size: staged.size,
          key_id: req.key_id,
        },
        'firmware registered',
      );
      return toFirmware(record);
    } finally {
      if (!stored) await rm(staged.path, { force: true });
    }
  }

  private registeredEvent(f: StoredFirmware) {
    const correlationId = getContext().correlationId;
    return createEvent(FirmwareRegisteredV1, {
      tenant: f.tenant,
      source: SERVICE_NAME,
      subject: f.firmware_id,
      time: f.created_at,
      ...(correlationId !== undefined && { correlationId }),
      data: {
        firmware_id: f.firmware_id,
        version: f.version,
        device_type: f.device_type,
        hardware_models: f.hardware_models,
        sha256: f.sha256,
        size: f.size,
        signature_alg: f.signature_alg,
        key_id: f.key_id,
        sigstore_verified: f.sigstore_verified,
        registered_at: f.created_at,
      },
    });
  }

  /**
   * The upload bucket, or null when it does not exist: the registry never creates it (the
   * api-gateway does, with its TTL; nats.js would create it without one).
   */
  private async objectStore(): Promise<ObjectStore | null> {
    try {
      await this.opts.bus.jsm.streams.info(`OBJ_${this.uploadBucket}`);
    } catch (err) {
      if ((err as Error).message === 'stream not found') return null;
      throw err;
    }
    return this.opts.bus.js.views.os(this.uploadBucket);
  }

  private async deleteUpload(name: string): Promise<void> {
    try {
      const os = await this.objectStore();
      await os?.delete(name);
    } catch (err) {
      // The upload is garbage then, not a failed registration: log it, the bucket's TTL ends it.
      this.opts.logger.warn(
        { event: 'firmware.upload_delete_failed', name, err: (err as Error).message },
        'could not delete a firmware upload',
      );
    }
  }

  /** `list_firmware`. */
  async list(req: ListFirmwareRequest): Promise<FirmwareList> {
    const limit = req.limit ?? LIST_DEFAULT;
    let beforeId: string | undefined;
    if (req.cursor !== undefined) {
      beforeId = Buffer.from(req.cursor, 'base64url').toString('utf8');
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(beforeId)) {
        throw new ValidationError('bad_cursor', 'the cursor is not one this service issued');
      }
    }
    const rows = await this.repo.list({
      tenant: req.tenant,
      limit,
      ...(req.device_type !== undefined && { deviceType: req.device_type }),
      ...(req.version !== undefined && { version: req.version }),
      ...(beforeId !== undefined && { beforeId }),
    });
    const page = rows.slice(0, limit);
    const more = rows.length > limit;
    return {
      items: page.map(toFirmware),
      next_cursor: more
        ? Buffer.from(page[page.length - 1]!.firmware_id).toString('base64url')
        : null,
    };
  }

  /** `get_firmware`: the firmware or firmware_not_found. */
  async getFirmware(req: GetFirmwareRequest): Promise<Firmware> {
    const f = await this.repo.get(req.tenant, req.firmware_id);
    if (f === null) throw firmwareErrors.notFound(req.firmware_id);
    return toFirmware(f);
  }

  /** `firmware_download_url`. */
  async downloadUrlFor(req: FirmwareDownloadUrlRequest): Promise<FirmwareDownloadUrlResponse> {
    const f = await this.repo.get(req.tenant, req.firmware_id);
    if (f === null) throw firmwareErrors.notFound(req.firmware_id);
    const ttl = req.ttl_s ?? 3600;
    return {
      url: await this.downloadUrl(f, req.device_id, ttl),
      expires_at: new Date(this.now().getTime() + ttl * 1000).toISOString(),
    };
  }

  // --- FirmwareCatalog ---

  get(tenant: string, firmwareId: string): Promise<FirmwareRecord | null> {
    return this.repo.get(tenant, firmwareId);
  }

  findByVersion(
    tenant: string,
    deviceType: string,
    version: string,
  ): Promise<FirmwareRecord | null> {
    return this.repo.findByVersion(tenant, deviceType, version);
  }

  /**
   * Re-reads the stored image and runs every check again: the row still exists, the bytes have the
   * recorded size and SHA-256, the key is still trusted, the signature verifies.
   */
  async reverify(record: FirmwareRecord): Promise<void> {
    const f = await this.repo.get(record.tenant, record.firmware_id);
    if (f === null) throw firmwareErrors.notFound(record.firmware_id);
    const ring = this.opts.keyRing.current();
    trustedKey(ring, f.key_id);
    const image = await this.readArtifact(f);
    const sha256 = createHash('sha256').update(image).digest('hex');
    checkDigest(f, { sha256, size: image.length });
    checkSignature(ring, f, image);
  }

  private async readArtifact(f: StoredFirmware): Promise<Buffer> {
    const opened = await this.opts.store.open(f.artifact_key);
    if (opened === null) throw firmwareErrors.artifactMissing(f.firmware_id);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of opened.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > f.size) {
        opened.body.destroy();
        throw firmwareErrors.sizeMismatch(f.size, `more than ${f.size}`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, total);
  }

  /** An expiring URL: presigned with the S3 store, else signed for the download endpoint. */
  async downloadUrl(record: FirmwareRecord, deviceId: string, ttlSeconds: number): Promise<string> {
    const f =
      'artifact_key' in record
        ? (record as StoredFirmware)
        : await this.repo.get(record.tenant, record.firmware_id);
    if (f === null) throw firmwareErrors.notFound(record.firmware_id);
    if (this.opts.store.presignedUrl !== undefined) {
      return this.opts.store.presignedUrl(f.artifact_key, ttlSeconds);
    }
    const expiresAt = Math.floor(this.now().getTime() / 1000) + ttlSeconds;
    const path = signDownloadPath(this.opts.urlSecret, {
      firmwareId: f.firmware_id,
      deviceId,
      expiresAt,
    });
    return `${this.opts.publicUrl().replace(/\/+$/, '')}${path}`;
  }

  /** The download endpoint's read: the firmware (any tenant) and its bytes, or null. */
  async openForDownload(
    firmwareId: string,
    range?: ArtifactRange,
  ): Promise<{ firmware: StoredFirmware; body: Readable; size: number } | null> {
    const f = await this.repo.getAnyTenant(firmwareId);
    if (f === null) return null;
    const opened = await this.opts.store.open(f.artifact_key, range);
    if (opened === null) return null;
    return { firmware: f, ...opened };
  }
}
