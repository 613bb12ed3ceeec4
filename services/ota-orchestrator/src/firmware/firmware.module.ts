// Builds the firmware registry for app.ts: artifact store, key ring, optional Sigstore verifier,
// the registry (the FirmwareCatalog of the rollout engine), its RPC handler map, and the download
// endpoint for the local store.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { type FirmwareModuleFactory } from '../app';
import { type ArtifactStore } from '../adapters/artifacts/artifact-store';
import { LocalArtifactStore } from '../adapters/artifacts/local-artifact.store';
import { S3ArtifactStore } from '../adapters/artifacts/s3-artifact.store';
import { type OtaConfig } from '../config';
import { type DownloadServer, startDownloadServer } from './download.server';
import { FirmwareRegistry } from './firmware.registry';
import { firmwareRpcHandlers } from './firmware.rpc';
import { keyRingSource } from './key-ring.source';
import { createSigstoreVerifier } from './sigstore.verifier';

/** The artifact store the configuration names. */
export async function createArtifactStore(config: OtaConfig): Promise<ArtifactStore> {
  if (config.FIRMWARE_ARTIFACT_STORE === 's3') {
    if (config.FIRMWARE_S3_BUCKET === undefined) {
      throw new Error('FIRMWARE_ARTIFACT_STORE=s3 needs FIRMWARE_S3_BUCKET');
    }
    const stagingDir = config.FIRMWARE_STAGING_DIR ?? join(tmpdir(), 'drover-firmware-staging');
    await mkdir(stagingDir, { recursive: true, mode: 0o700 });
    const client = new S3Client({
      ...(config.FIRMWARE_S3_REGION !== undefined && { region: config.FIRMWARE_S3_REGION }),
      ...(config.FIRMWARE_S3_ENDPOINT !== undefined && {
        endpoint: config.FIRMWARE_S3_ENDPOINT,
        forcePathStyle: true,
      }),
    });
    return new S3ArtifactStore({
      client,
      bucket: config.FIRMWARE_S3_BUCKET,
      prefix: config.FIRMWARE_S3_PREFIX,
      stagingDir,
    });
  }
  return new LocalArtifactStore(config.FIRMWARE_ARTIFACT_DIR).init();
}

/** The firmware module (app.ts `deps.firmware`, and its default). */
export const createFirmwareModule: FirmwareModuleFactory = async ({
  config,
  db,
  bus,
  logger,
  metrics,
  notifyOutbox,
}) => {
  const store = await createArtifactStore(config);
  const keyRing = keyRingSource(config.FIRMWARE_TRUSTED_KEYS);
  const sigstore =
    config.FIRMWARE_SIGSTORE_TRUSTED_ROOT !== undefined
      ? createSigstoreVerifier({
          trustedRootPath: config.FIRMWARE_SIGSTORE_TRUSTED_ROOT,
          ...(config.FIRMWARE_SIGSTORE_IDENTITY !== undefined && {
            identity: config.FIRMWARE_SIGSTORE_IDENTITY,
          }),
        })
      : null;
  let urlSecret: Buffer;
  if (config.FIRMWARE_URL_SECRET !== undefined && config.FIRMWARE_URL_SECRET !== '') {
    urlSecret = Buffer.from(config.FIRMWARE_URL_SECRET, 'utf8');
  } else {
    urlSecret = randomBytes(32);
    if (store.kind === 'local') {
      logger.warn(
        { event: 'firmware.url_secret_generated' },
        'FIRMWARE_URL_SECRET is not set: download URLs are signed with a key of this process ' +
          'only (they stop working on restart and on other replicas)',
      );
    }
  }
  let server: DownloadServer | null = null;
  const registry = new FirmwareRegistry({
    db,
    bus,
    store,
    keyRing,
    sigstore,
    logger,
    notifyOutbox,
    metrics,
    urlSecret,
    maxBytes: config.FIRMWARE_MAX_BYTES,
    fetchTimeoutMs: config.FIRMWARE_FETCH_TIMEOUT_MS,
    publicUrl: () =>
      config.FIRMWARE_PUBLIC_URL ?? `http://127.0.0.1:${server?.port ?? config.FIRMWARE_HTTP_PORT}`,
  });
  if (store.kind === 'local') {
    server = await startDownloadServer({
      registry,
      secret: urlSecret,
      port: config.FIRMWARE_HTTP_PORT,
      logger,
    });
  }
  logger.info(
    {
      event: 'firmware.registry_started',
      store: store.kind,
      trusted_keys: keyRing.origin,
      trusted_key_count: keyRing.current().size,
      sigstore: sigstore !== null,
      download_port: server?.port ?? null,
    },
    'firmware registry up',
  );
  return {
    catalog: registry,
    endpoints: firmwareRpcHandlers(registry),
    stop: async () => {
      await server?.stop();
    },
  };
};
