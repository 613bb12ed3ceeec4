// The whole platform in-process for the story test, isolated on its own namespace (streams,
// Redis keys), Postgres schemas and a private Mosquitto with the generated mTLS listeners:
// registry, provisioning, mqtt-ingress (platform listener), telemetry-ingest, command-gateway,
// ota-orchestrator (firmware registry, download server) and the API gateway listening on a free
// port with a throwaway JWKS issuer. The simulator is started by the test (after enrollment).
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Bus } from '@drover/bus';
import { FIRMWARE_UPLOAD_BUCKET } from '@drover/contracts';
import { createLogger } from '@drover/observability';
import { MemorySecretStore, type SecureBroker, prepareSecureBroker } from '@drover/pki';
import {
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  type TestAuth,
  cleanupNamespace,
  createTestAuth,
  createTestDb,
  dropTestDb,
  freePort,
  portAccepts,
  startPrivateMosquitto,
  testNamespace,
  waitFor,
  withTestBus,
} from '@drover/testing';
import { startGateway } from '../../../api-gateway/src/app';
import { loadGatewayConfig } from '../../../api-gateway/src/config';
import { startCommandGateway } from '../../../command-gateway/src/app';
import { startDeviceRegistry } from '../../../device-registry/src/app';
import { startMqttIngress } from '../../../mqtt-ingress/src/app';
import { loadIngressConfig } from '../../../mqtt-ingress/src/config';
import { startOtaOrchestrator } from '../../../ota-orchestrator/src/app';
import { startProvisioning } from '../../../provisioning/src/app';
import { startTelemetryIngest } from '../../../telemetry-ingest/src/app';
import { loadIngestConfig } from '../../../telemetry-ingest/src/config';

/** The running platform of one story. */
export interface Platform {
  /** Namespace of streams, Redis keys and schemas. */
  ns: string;
  /** The mTLS broker's files, ports and PKI (bootstrap CA for the simulator's factory). */
  broker: SecureBroker;
  /** Base URL of the API gateway. */
  api: string;
  /** The token issuer. */
  auth: TestAuth;
  /** The trusted release key (its id and the private half that signs images). */
  release: { keyId: string; privateKey: KeyObject; publicPem: string };
  /** Scratch directory (artifacts, CLI repository). */
  dir: string;
  /** Stops and removes everything (in reverse start order; every step runs). */
  stop(): Promise<void>;
}

const logLevel = process.env.TEST_LOG_LEVEL ?? 'silent';
/** How long one stopping step may take before the test names it and goes on. */
const STEP_MS = 60_000;
const stepName = (step: () => Promise<unknown>) =>
  step.toString().replace(/\s+/g, ' ').slice(0, 80);

/** Awaits `work`, failing with its name when it takes over STEP_MS (it may still run on). */
export async function bounded<T>(name: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`stopping "${name}" took over ${STEP_MS} ms`)),
      STEP_MS,
    );
  });
  try {
    return await Promise.race([work, hung]);
  } finally {
    clearTimeout(timer);
  }
}
const silent = () => createLogger({ service: 'story', level: logLevel });

/** Starts every service of the platform. */
export async function startPlatform(label: string): Promise<Platform> {
  const ns = testNamespace(label);
  const undo: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    const errors: unknown[] = [];
    for (const step of undo.reverse()) {
      try {
        // A step that hangs must not hide which one it was (nor keep the rest from running).
        await bounded(stepName(step), step());
      } catch (err) {
        errors.push(err);
      }
    }
    undo.length = 0;
    if (errors.length > 0)
      throw new AggregateError(
        errors,
        `stopping the platform failed: ${errors.map(String).join('; ')}`,
      );
  };
  try {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'drover-story-'));
    undo.push(() => rm(dir, { recursive: true, force: true }));
    const broker = await prepareSecureBroker({
      dir: path.join(dir, 'broker'),
      store: new MemorySecretStore(),
      fleetPort: await freePort(),
      provisioningPort: await freePort(),
      platformPort: await freePort(),
      omitUser: true,
    });
    // Not persistent: retained status and sessions go with the process.
    const mosquitto = await startPrivateMosquitto({ config: broker.config });
    undo.push(() => mosquitto.destroy());
    await waitFor(
      async () =>
        (await portAccepts(broker.ports.fleet)) &&
        (await portAccepts(broker.ports.provisioning)) &&
        (await portAccepts(broker.ports.platform)),
      { timeoutMs: 15_000, description: 'mosquitto TLS listeners' },
    );

    // The streams first (the setup step of `npm start`); removed with the Redis keys at the end.
    const bus: Bus = await withTestBus(ns);
    undo.push(() => bus.close());
    undo.push(() => cleanupNamespace(ns, { bus }));
    // The gateway's upload bucket (its stream is not named under the namespace prefix).
    undo.push(async () => {
      const bucket = await bus.js.views.os(bus.naming.stream(FIRMWARE_UPLOAD_BUCKET));
      await bucket.destroy();
    });
    const schema = async (suffix: string) => {
      const name = `${ns}_${suffix}`;
      const db = await createTestDb(name, { poolMax: 1 });
      undo.push(() => dropTestDb(db, name));
      return name;
    };
    const common = {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      DROVER_NAMESPACE: ns,
    };

    const registry = await startDeviceRegistry(
      {
        ...common,
        REDIS_URL: TEST_REDIS_URL,
        DB_SCHEMA: await schema('reg'),
        DB_POOL_MAX: 4,
        OUTBOX_POLL_MS: 50,
      },
      { logger: silent(), ensureStreams: false },
    );
    undo.push(() => registry.stop());

    const provisioning = await startProvisioning(
      {
        ...common,
        DB_SCHEMA: await schema('prov'),
        DB_POOL_MAX: 3,
        OUTBOX_POLL_MS: 50,
        CRL_PATH: broker.files.crlFile,
        PUBLIC_MQTT_URL: `mqtts://127.0.0.1:${broker.ports.fleet}`,
      },
      { logger: silent(), pki: broker.pki },
    );
    undo.push(() => provisioning.stop());

    const ingress = await startMqttIngress(
      loadIngressConfig({
        NATS_URL: TEST_NATS_URL,
        REDIS_URL: TEST_REDIS_URL,
        DROVER_NAMESPACE: ns,
        LOG_LEVEL: logLevel,
        ENSURE_STREAMS: 'false',
        OPS_PORT: '0',
        MQTT_URL: `mqtts://127.0.0.1:${broker.ports.platform}`,
        MQTT_CA_FILE: broker.files.caFile,
        MQTT_CERT_FILE: broker.files.ingressCertFile,
        MQTT_KEY_FILE: broker.files.ingressKeyFile,
        MQTT_SHARE_GROUP: broker.shareGroup,
        MQTT_CLIENT_ID: `${ns}-ingress`,
        MQTT_CONNECTIONS: '2',
        // A fresh device's first status meets a negative cache entry; keep it short.
        META_CACHE_TTL_MS: '500',
      }),
      { logger: silent(), opsServer: false },
    );
    undo.push(() => ingress.stop());

    const telemetry = await startTelemetryIngest(
      loadIngestConfig({
        ...common,
        REDIS_URL: TEST_REDIS_URL,
        DB_SCHEMA: await schema('tel'),
        DB_POOL_MAX: '2',
        ENSURE_STREAMS: 'false',
        OPS_PORT: '0',
      }),
      { logger: silent(), opsServer: false },
    );
    undo.push(() => telemetry.stop());

    const commands = await startCommandGateway(
      {
        ...common,
        DB_SCHEMA: await schema('cmd'),
        DB_POOL_MAX: 4,
        CONSUMER_CONCURRENCY: 8,
        OUTBOX_POLL_MS: 50,
        // A device that just provisioned is known to the gateway at once.
        DEVICE_META_TTL_MS: 500,
      },
      { logger: silent() },
    );
    undo.push(() => commands.stop());

    const keys = generateKeyPairSync('ed25519');
    const release = {
      keyId: 'story-release',
      privateKey: keys.privateKey,
      publicPem: keys.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    };
    const ota = await startOtaOrchestrator(
      {
        ...common,
        DB_SCHEMA: await schema('ota'),
        DB_POOL_MAX: 4,
        OUTBOX_POLL_MS: 50,
        ROLLOUT_TICK_MS: 200,
        FIRMWARE_TRUSTED_KEYS: JSON.stringify({ [release.keyId]: release.publicPem }),
        FIRMWARE_ARTIFACT_DIR: path.join(dir, 'artifacts'),
        // Port 0: the download URLs name the port the server got.
        FIRMWARE_HTTP_PORT: 0,
        FIRMWARE_URL_SECRET: 'story-download-url-secret',
      },
      { logger: silent() },
    );
    undo.push(() => ota.stop());

    const auth = await createTestAuth();
    undo.push(() => auth.close());
    const gateway = await startGateway(
      loadGatewayConfig({
        NATS_URL: TEST_NATS_URL,
        REDIS_URL: TEST_REDIS_URL,
        DROVER_NAMESPACE: ns,
        LOG_LEVEL: logLevel,
        AUTH_JWKS_URL: auth.jwksUrl,
        AUTH_ISSUER: auth.issuer,
        AUTH_AUDIENCE: auth.audience,
        API_HOST: '127.0.0.1',
        API_PORT: '0',
        RPC_TIMEOUT_MS: '10000',
        DEVICE_CACHE_TTL_MS: '0',
      }),
      { logger: silent() },
    );
    undo.push(() => gateway.close());

    return { ns, broker, api: gateway.url, auth, release, dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
