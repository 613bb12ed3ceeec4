// The rollout path on the shared servers, isolated by namespace, schemas and topic prefix: the
// real registry, ingress and command gateway in-process, the orchestrator (in-process, or any
// number of replicas), and simulated devices over MQTT that answer firmware.update and
// firmware.rollback per behaviour and reconnect after a "reboot" with their new version.
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { type Kysely } from 'kysely';
import { type Subscription } from 'nats';
import { type Bus, rpcRequest } from '@drover/bus';
import {
  type CloudEvent,
  type CreateDeploymentRequest,
  type Deployment,
  type DeploymentDeviceList,
  type DeviceList,
  FIRMWARE_UPLOAD_BUCKET,
  type Firmware,
} from '@drover/contracts';
import { createLogger } from '@drover/observability';
import {
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  testNamespace,
  waitFor,
  withTestBus,
} from '@drover/testing';
import { type CommandGateway, startCommandGateway } from '../../../command-gateway/src/app';
import { type DeviceRegistry, startDeviceRegistry } from '../../../device-registry/src/app';
import { type MqttIngress, startMqttIngress } from '../../../mqtt-ingress/src/app';
import { loadIngressConfig } from '../../../mqtt-ingress/src/config';
import { type OtaAppConfig, type OtaOrchestrator, startOtaOrchestrator } from '../../src/app';

/** An ed25519 release key. */
export interface Signer {
  keyId: string;
  privateKey: KeyObject;
  publicPem: string;
}

/** A new release key. */
export function signer(keyId: string): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    keyId,
    privateKey,
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/** Shared broker unless MQTT_URL says otherwise. */
export const TEST_MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** How a simulated device takes firmware.update. */
export type Behaviour =
  | 'healthy' // downloads, installs, reboots, comes back on the new version, reports succeeded
  | 'fail' // reports failed
  | 'offline' // starts, then drops off the network for good
  | 'no_reboot' // reports succeeded but never comes back on the new version
  | 'reject' // refuses it on cmd/res ("battery low")
  | 'silent'; // never answers

/** A simulated device. */
export interface SimDevice {
  /** Its id. */
  id: string;
  /** The version it runs. */
  version: string;
  /** firmware.update command ids received, in order. */
  updates: string[];
  /** firmware.rollback command ids received, in order. */
  rollbacks: string[];
  /** Commands delivered again with an id already acted on (ignored, as a device does). */
  redeliveries: number;
  /** Drops off the network for good (the broker fires its last will). */
  vanish(): void;
}

/** Environment of the orchestrator under test. */
export type OtaEnv = Partial<OtaAppConfig>;

/** A running rollout path. */
export interface Harness {
  ns: string;
  tenant: string;
  bus: Bus;
  /** The release key trusted from the start. */
  release: Signer;
  /** The artifact store directory of the real firmware registry. */
  firmwareDir: string;
  /** Rewrites the trusted key ring file (the registry re-reads it). */
  trust(keys: Signer[]): Promise<void>;
  /** Uploads a signed image and registers it through register_firmware. */
  register(version: string, opts?: { by?: Signer; hardwareModels?: string[] }): Promise<Firmware>;
  /** The orchestrator's schema. */
  schema: string;
  /** Settings every orchestrator of this harness uses (tests spawn children with them). */
  otaEnv: Record<string, string>;
  /** The in-process replicas started so far. */
  replicas: OtaOrchestrator[];
  /** Starts one more in-process replica. */
  startReplica(env?: OtaEnv): Promise<OtaOrchestrator>;
  /** Registers and connects `n` devices `<prefix><i>` with behaviours by index. */
  fleet(n: number, behaviour: (i: number) => Behaviour, prefix?: string): Promise<SimDevice[]>;
  /** create_deployment (target and rollout config in `body`). */
  deploy(body: Partial<CreateDeploymentRequest>): Promise<Deployment>;
  /** get_deployment. */
  get(id: string): Promise<Deployment>;
  /** Any deployment RPC. */
  rpc<T>(op: string, body: Record<string, unknown>): Promise<T>;
  /** Every device row of a deployment. */
  devices(id: string): Promise<DeploymentDeviceList['items']>;
  /** Waits until the deployment satisfies `pred`. */
  until(id: string, pred: (d: Deployment) => boolean, timeoutMs?: number): Promise<Deployment>;
  /** deployment.* events seen so far. */
  events: CloudEvent<Record<string, unknown>>[];
  /** Stops everything and removes every trace. */
  stop(): Promise<void>;
}

/** Starts registry, ingress, gateway and one orchestrator (unless `replicas` is 0). */
export async function startHarness(
  label: string,
  opts: { replicas?: number; env?: OtaEnv } = {},
): Promise<Harness> {
  const ns = testNamespace(label);
  const tenant = 'acme';
  const bus = await withTestBus(ns);
  const registrySchema = `${ns}_reg`;
  const gatewaySchema = `${ns}_cmd`;
  const schema = `${ns}_ota`;
  const release = signer('release-1');
  const firmwareDir = await mkdtemp(join(tmpdir(), 'drover-rollout-'));
  const keysFile = join(firmwareDir, 'trusted-keys.json');
  let keysWrites = 0;
  const trust = async (keys: Signer[]) => {
    // A different size each time: the registry notices the change by mtime and size.
    const ring = Object.fromEntries(keys.map((k) => [k.keyId, k.publicPem]));
    await writeFile(keysFile, JSON.stringify(ring) + ' '.repeat(++keysWrites % 7));
  };
  await trust([release]);
  const registry: DeviceRegistry = await startDeviceRegistry(
    {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      DROVER_NAMESPACE: ns,
      DB_SCHEMA: registrySchema,
      DB_POOL_MAX: 4,
    },
    { logger: silent },
  );
  const ingress: MqttIngress = await startMqttIngress(
    loadIngressConfig({
      NATS_URL: TEST_NATS_URL,
      DROVER_NAMESPACE: ns,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ENSURE_STREAMS: 'false',
      OPS_PORT: '0',
      MQTT_URL: TEST_MQTT_URL,
      MQTT_TOPIC_PREFIX: ns,
      MQTT_CLIENT_ID: `${ns}-ingress`,
      MQTT_CONNECTIONS: '2',
    }),
    { logger: silent, opsServer: false },
  );
  const gateway: CommandGateway = await startCommandGateway(
    {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      DROVER_NAMESPACE: ns,
      DB_SCHEMA: gatewaySchema,
      DB_POOL_MAX: 8,
      CONSUMER_CONCURRENCY: 8,
      OUTBOX_POLL_MS: 50,
    },
    { logger: silent },
  );
  const otaEnv: Record<string, string> = {
    NATS_URL: TEST_NATS_URL,
    DATABASE_URL: TEST_DATABASE_URL,
    DROVER_NAMESPACE: ns,
    DB_SCHEMA: schema,
    DB_POOL_MAX: '8',
    CONSUMER_CONCURRENCY: '8',
    OUTBOX_POLL_MS: '50',
    ROLLOUT_TICK_MS: '200',
    ROLLOUT_LEASE_MS: '10000',
    FIRMWARE_TRUSTED_KEYS: keysFile,
    FIRMWARE_ARTIFACT_DIR: firmwareDir,
    FIRMWARE_URL_SECRET: 'rollout-test-download-secret',
    FIRMWARE_HTTP_PORT: '0',
  };
  const replicas: OtaOrchestrator[] = [];
  const startReplica = async (env: OtaEnv = {}) => {
    const o = await startOtaOrchestrator(
      { ...(otaEnv as unknown as OtaAppConfig), ...opts.env, ...env },
      { logger: silent },
    );
    replicas.push(o);
    return o;
  };
  for (let i = 0; i < (opts.replicas ?? 1); i++) await startReplica();

  const events: CloudEvent<Record<string, unknown>>[] = [];
  const sub: Subscription = bus.nc.subscribe(bus.naming.subject(`iot.evt.${tenant}.deployment.>`));
  void (async () => {
    for await (const m of sub) events.push(m.json());
  })();

  const clients = new Set<MqttClient>();
  const retainedTopics = new Set<string>();
  let stopping = false;
  const topic = (id: string, channel: string) => `${ns}/${tenant}/sensor/${id}/${channel}`;
  const guard = (p: Promise<unknown>) =>
    p.catch((err: unknown) => {
      // A force-ended device fails its in-flight publishes; that is the harness stopping.
      if (!stopping) throw err;
    });

  const startDevice = async (id: string, behaviour: Behaviour): Promise<SimDevice> => {
    let client: MqttClient;
    const vanish = () => (client.stream as unknown as net.Socket).destroy();
    const dev: SimDevice = {
      id,
      version: '1.0.0',
      updates: [],
      rollbacks: [],
      redeliveries: 0,
      vanish,
    };
    let seq = 0;
    const msgId = (p: string) => `${p}-${id}-${Date.now()}-${seq++}`;
    const publish = (channel: string, body: Record<string, unknown>, retain = false) =>
      guard(
        client.publishAsync(
          topic(id, channel),
          JSON.stringify({
            msg_id: msgId(channel[0]!),
            ts: Date.now(),
            schema_version: 1,
            ...body,
          }),
          { qos: 1, retain },
        ),
      );
    const answer = (cmdId: string, status: string, extra: Record<string, unknown> = {}) =>
      publish('cmd/res', { cmd_id: cmdId, status, ...extra });
    const update = (deploymentId: string, version: string, state: string, extra = {}) =>
      publish('update_status', {
        deployment_id: deploymentId,
        firmware_version: version,
        state,
        ...extra,
      });
    const online = () =>
      publish('status', { state: 'online', firmware_version: dev.version }, true);

    const connect = async () => {
      const status = topic(id, 'status');
      retainedTopics.add(status);
      client = await mqtt.connectAsync(TEST_MQTT_URL, {
        clientId: `${ns}-${id}`,
        clean: true,
        reconnectPeriod: 0,
        will: { topic: status, payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true },
      });
      clients.add(client);
      client.on('message', (_t, payload) => void onCommand(payload));
      await client.subscribeAsync(topic(id, 'cmd'), { qos: 1 });
      await online();
    };

    const onCommand = async (payload: Buffer) => {
      const p = JSON.parse(payload.toString()) as {
        msg_id: string;
        command: { name: string; params: { deployment_id: string; firmware_version: string } };
      };
      const { name, params } = p.command;
      // Delivery is at least once: a device acts on a command id once.
      if (dev.updates.includes(p.msg_id) || dev.rollbacks.includes(p.msg_id)) {
        dev.redeliveries++;
        return;
      }
      if (name === 'firmware.rollback') {
        dev.rollbacks.push(p.msg_id);
        if (behaviour === 'silent' || behaviour === 'offline') return;
        await answer(p.msg_id, 'accepted');
        dev.version = params.firmware_version;
        await update(params.deployment_id, params.firmware_version, 'rolled_back');
        await online();
        await answer(p.msg_id, 'succeeded');
        return;
      }
      if (name !== 'firmware.update') return;
      dev.updates.push(p.msg_id);
      if (behaviour === 'silent') return;
      if (behaviour === 'reject') {
        await answer(p.msg_id, 'rejected', { error: 'battery low' });
        return;
      }
      await answer(p.msg_id, 'accepted');
      const { deployment_id: dep, firmware_version: v } = params;
      await update(dep, v, 'downloading', { progress: 50 });
      if (behaviour === 'fail') {
        await update(dep, v, 'failed', { error: 'flash write failed' });
        await answer(p.msg_id, 'failed', { error: 'flash write failed' });
        return;
      }
      if (behaviour === 'offline') {
        // Gone for good: the broker fires the last will.
        vanish();
        return;
      }
      await update(dep, v, 'installing');
      if (behaviour === 'no_reboot') {
        await update(dep, v, 'succeeded');
        await answer(p.msg_id, 'succeeded');
        return;
      }
      await update(dep, v, 'rebooting');
      // The reboot: a clean disconnect, then a new session that announces the new version.
      const old = client;
      await guard(old.endAsync());
      clients.delete(old);
      if (stopping) return;
      dev.version = v;
      await connect();
      await update(dep, v, 'succeeded');
      await answer(p.msg_id, 'succeeded');
    };

    await connect();
    return dev;
  };

  const rpc = <T>(op: string, body: Record<string, unknown>) =>
    rpcRequest<T>(bus, 'ota-orchestrator', op, { tenant, ...body }, { timeoutMs: 30_000 });
  const uploads = await bus.js.views.os(bus.naming.stream(FIRMWARE_UPLOAD_BUCKET));
  let uploaded = 0;

  const h: Harness = {
    ns,
    tenant,
    bus,
    release,
    firmwareDir,
    trust,
    async register(version, o = {}) {
      const by = o.by ?? release;
      const bytes = Buffer.alloc(16 * 1024, version);
      const name = `fw-${++uploaded}`;
      await uploads.putBlob({ name }, bytes);
      return rpc<Firmware>('register_firmware', {
        version,
        device_type: 'sensor',
        hardware_models: o.hardwareModels ?? ['rev-b'],
        sha256: createHash('sha256').update(bytes).digest('hex'),
        size: bytes.length,
        signature: sign(null, bytes, by.privateKey).toString('base64'),
        signature_alg: 'ed25519',
        key_id: by.keyId,
        upload: { bucket: bus.naming.stream(FIRMWARE_UPLOAD_BUCKET), name },
      });
    },
    schema,
    otaEnv,
    replicas,
    startReplica,
    events,
    async fleet(n, behaviour, prefix = 'd') {
      const ids = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
      const create = (id: string) =>
        rpcRequest(bus, 'device-registry', 'create_device', {
          tenant,
          device_id: id,
          device_type: 'sensor',
          hardware_id: `hw-${id}`,
          hardware_model: 'rev-b',
        });
      await waitFor(() => create(ids[0]!), { timeoutMs: 10_000 });
      for (let i = 1; i < ids.length; i += 25) await Promise.all(ids.slice(i, i + 25).map(create));
      const devices: SimDevice[] = [];
      for (let i = 0; i < ids.length; i += 25) {
        devices.push(
          ...(await Promise.all(
            ids.slice(i, i + 25).map((id, k) => startDevice(id, behaviour(i + k))),
          )),
        );
      }
      // The registry learns each device's version from its status message.
      await waitFor(
        async () => {
          let count = 0;
          let cursor: string | null = null;
          do {
            const page: DeviceList = await rpcRequest<DeviceList>(
              bus,
              'device-registry',
              'list_devices',
              {
                tenant,
                firmware_version: '1.0.0',
                limit: 500,
                ...(cursor !== null && { cursor }),
              },
            );
            count += page.items.filter((d) => d.device_id.startsWith(prefix)).length;
            cursor = page.next_cursor;
          } while (cursor !== null);
          return count >= n ? true : null;
        },
        { timeoutMs: 30_000, intervalMs: 250, description: 'registry knows every version' },
      );
      return devices;
    },
    deploy: (body) =>
      rpc<Deployment>('create_deployment', {
        version: '2.0.0',
        device_type: 'sensor',
        ...body,
      }),
    get: (id) => rpc<Deployment>('get_deployment', { deployment_id: id }),
    rpc,
    async devices(id) {
      const out: DeploymentDeviceList['items'] = [];
      let cursor: string | null = null;
      do {
        const page: DeploymentDeviceList = await rpc<DeploymentDeviceList>(
          'list_deployment_devices',
          { deployment_id: id, limit: 500, ...(cursor !== null && { cursor }) },
        );
        out.push(...page.items);
        cursor = page.next_cursor;
      } while (cursor !== null);
      return out;
    },
    until: (id, pred, timeoutMs = 60_000) =>
      waitFor(
        async () => {
          const d = await h.get(id);
          return pred(d) ? d : null;
        },
        { timeoutMs, intervalMs: 200, description: `deployment ${id}` },
      ),
    async stop() {
      stopping = true;
      sub.unsubscribe();
      await Promise.all([...clients].map((c) => c.endAsync(true)));
      const cleaner = await mqtt.connectAsync(TEST_MQTT_URL, { clientId: `${ns}-cleaner` });
      for (const t of retainedTopics) await cleaner.publishAsync(t, '', { qos: 1, retain: true });
      await cleaner.endAsync();
      for (const r of replicas) await r.stop();
      await gateway.stop();
      await ingress.stop();
      await registry.stop();
      await Promise.all(
        ingress.clientIds.map(async (clientId) => {
          const c = await mqtt.connectAsync(TEST_MQTT_URL, { clientId, clean: true });
          await c.endAsync();
        }),
      );
      for (const s of [schema, gatewaySchema, registrySchema]) {
        const db: Kysely<unknown> = await createTestDb(s);
        await dropTestDb(db, s);
      }
      await uploads.destroy();
      await cleanupNamespace(ns, { bus });
      await bus.close();
      await rm(firmwareDir, { recursive: true, force: true });
    },
  };
  return h;
}

/** The types of the deployment events seen, in order. */
export function eventTypes(h: Harness, deploymentId: string): string[] {
  return h.events
    .filter(
      (e) =>
        e.data.deployment_id === deploymentId && e.type !== 'drover.deployment.device_updated.v1',
    )
    .map((e) => e.type.replace(/^drover\.deployment\.(.*)\.v1$/, '$1'));
}

/** A fast rollout config for tests (soak ≈ 1 s). */
export const FAST = {
  soak_duration_minutes: 0.02,
  device_timeout_minutes: 1.5,
} as const;
