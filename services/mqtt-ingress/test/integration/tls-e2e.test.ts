// The whole device path over mutual TLS, on a private Mosquitto with the generated listeners
// (fleet, provisioning, platform): a device with only its factory bootstrap certificate asks for
// a fleet certificate on the provisioning listener (real provisioning service, the ingress'
// bridge), reconnects on the fleet listener with it and sends telemetry, which reaches NATS
// through the ingress connected to the platform listener with its own certificate. A revoked
// certificate (after the CRL is enforced), a certificate from another CA and a device
// certificate on the platform listener are refused.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { type Kysely } from 'kysely';
import { rpcRequest } from '@drover/bus';
import {
  DEVICE_REGISTRY_SERVICE,
  DeviceRegistryOps,
  PROVISIONING_SERVICE,
  ProvisioningOps as Ops,
  telemetrySubject,
} from '@drover/contracts';
import { createLogger } from '@drover/observability';
import {
  createCsr,
  issueClientCertificate,
  loadOrCreatePki,
  MemorySecretStore,
  prepareSecureBroker,
  type SecureBroker,
} from '@drover/pki';
import {
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  freePort,
  portAccepts,
  startPrivateMosquitto,
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  testNamespace,
  waitFor,
  withTestBus,
  type PrivateMosquitto,
} from '@drover/testing';
import { startProvisioning, type ProvisioningService } from '../../../provisioning/src/app';
import { startDeviceRegistry } from '../../../device-registry/src/app';
import { type MqttIngress, startMqttIngress } from '../../src/app';
import { loadIngressConfig } from '../../src/config';

jest.setTimeout(120_000);

const ns = testNamespace('ingress_tls');
const provSchema = `${ns}_prov`;
const regSchema = `${ns}_reg`;
const silent = createLogger({ service: 'tls-e2e', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

let tmp: string;
let broker: SecureBroker;
let mosquitto: PrivateMosquitto;
let bus: Awaited<ReturnType<typeof withTestBus>>;
let provisioning: ProvisioningService | undefined;
let registry: Awaited<ReturnType<typeof startDeviceRegistry>> | undefined;
let ingress: MqttIngress | undefined;
const dbs: Array<[Kysely<unknown>, string]> = [];
const clients: MqttClient[] = [];

interface Identity {
  certificatePem: string;
  privateKeyPem: string;
}

/** Connects over TLS and resolves on CONNACK; rejects with the TLS or CONNACK error. */
function connectTls(port: number, identity: Identity, clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({
      host: '127.0.0.1',
      port,
      protocol: 'mqtts',
      protocolVersion: 4,
      clientId,
      cert: identity.certificatePem,
      key: identity.privateKeyPem,
      ca: broker.pki.fleet.chainPems,
      rejectUnauthorized: true,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      clean: true,
    });
    clients.push(client);
    client.once('connect', () => resolve(client));
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

/** Why the broker refused the identity (TLS handshake or CONNACK), or null when it accepted. */
async function refusal(port: number, identity: Identity, clientId: string): Promise<string | null> {
  try {
    const c = await connectTls(port, identity, clientId);
    await c.endAsync(true);
    return null;
  } catch (err) {
    // TLS errors come from another realm than jest's: no instanceof.
    return String((err as { message?: unknown }).message ?? err);
  }
}

/** The private mosquitto's pid (by its config path), to send it SIGHUP. */
function mosquittoPid(m: PrivateMosquitto): number {
  const configFile = path.join(m.dir, 'mosquitto.conf');
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch (err) {
      // The process ended while we looked: not ours.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    if (cmdline.split('\0').includes(configFile)) return Number(entry);
  }
  throw new Error(`no mosquitto running with ${configFile}`);
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'drover-tls-e2e-'));
  broker = await prepareSecureBroker({
    dir: path.join(tmp, 'broker'),
    store: new MemorySecretStore(),
    fleetPort: await freePort(),
    provisioningPort: await freePort(),
    platformPort: await freePort(),
    // startPrivateMosquitto writes its own `user root` when running as root.
    omitUser: true,
  });
  mosquitto = await startPrivateMosquitto({ config: broker.config });
  await waitFor(
    async () =>
      (await portAccepts(broker.ports.fleet)) &&
      (await portAccepts(broker.ports.provisioning)) &&
      (await portAccepts(broker.ports.platform)),
    { timeoutMs: 10_000, description: 'mosquitto TLS listeners' },
  );
  bus = await withTestBus(ns);
  for (const schema of [provSchema, regSchema]) {
    dbs.push([await createTestDb(schema, { poolMax: 1 }), schema]);
  }
  provisioning = await startProvisioning(
    {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      DB_SCHEMA: provSchema,
      DB_POOL_MAX: 3,
      DROVER_NAMESPACE: ns,
      OUTBOX_POLL_MS: 50,
      // The broker's own CRL file: a revocation is enforced after a SIGHUP.
      CRL_PATH: broker.files.crlFile,
    },
    { logger: silent, pki: broker.pki },
  );
  registry = await startDeviceRegistry(
    {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      DROVER_NAMESPACE: ns,
      DB_SCHEMA: regSchema,
      DB_POOL_MAX: 3,
    },
    { logger: silent, ensureStreams: false },
  );
  ingress = await startMqttIngress(
    loadIngressConfig({
      NATS_URL: TEST_NATS_URL,
      REDIS_URL: TEST_REDIS_URL,
      DROVER_NAMESPACE: ns,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ENSURE_STREAMS: 'false',
      OPS_PORT: '0',
      MQTT_URL: `mqtts://127.0.0.1:${broker.ports.platform}`,
      MQTT_CA_FILE: broker.files.caFile,
      MQTT_CERT_FILE: broker.files.ingressCertFile,
      MQTT_KEY_FILE: broker.files.ingressKeyFile,
      MQTT_SHARE_GROUP: broker.shareGroup,
      MQTT_CLIENT_ID: `${ns}-ingress`,
      MQTT_CONNECTIONS: '2',
    }),
    { logger: silent },
  );
  // The RPC subscription reaches the server asynchronously: the first call may need a retry.
  await waitFor(() =>
    rpcRequest(bus, PROVISIONING_SERVICE, Ops.createEnrollment, {
      tenant: 'acme',
      device_type: 'sensor',
      hardware_ids: ['HWT-1', 'HWT-2'],
    }),
  );
});

afterAll(async () => {
  await Promise.all(
    clients.map((c) =>
      c.endAsync(true).catch((err: unknown) => silent.debug({ err }, 'client end')),
    ),
  );
  await ingress?.stop();
  await registry?.stop();
  await provisioning?.stop();
  await mosquitto?.destroy();
  if (bus) {
    await cleanupNamespace(ns, { bus });
    await bus.close();
  }
  for (const [db, schema] of dbs) await dropTestDb(db, schema);
  await rm(tmp, { recursive: true, force: true });
});

/** Provisions `hw` over MQTT on the provisioning listener; returns the device's identity. */
async function provisionOverMqtt(hw: string): Promise<Identity & { deviceId: string }> {
  const bootstrap = await issueClientCertificate(broker.pki.bootstrap, {
    commonName: hw,
    profile: 'bootstrap',
  });
  const device = await connectTls(broker.ports.provisioning, bootstrap, hw);
  const answer = new Promise<Record<string, unknown>>((resolve) =>
    device.on('message', (_topic, payload) =>
      resolve(JSON.parse(payload.toString()) as Record<string, unknown>),
    ),
  );
  await device.subscribeAsync(`provisioning/${hw}/res`, { qos: 1 });
  const { csrPem, privateKeyPem } = await createCsr(hw);
  await device.publishAsync(
    `provisioning/${hw}/req`,
    JSON.stringify({
      msg_id: `m-${hw}`,
      ts: Date.now(),
      schema_version: 1,
      device_type: 'sensor',
      csr: csrPem,
    }),
    { qos: 1 },
  );
  const res = await answer;
  expect(res).toMatchObject({ status: 'ok', request_id: `m-${hw}`, tenant: 'acme' });
  await device.endAsync();
  return {
    deviceId: res.device_id as string,
    certificatePem: res.certificate as string,
    privateKeyPem,
  };
}

describe('MQTT over mutual TLS, end to end', () => {
  let first: Identity & { deviceId: string };

  it('bootstrap certificate → fleet certificate → telemetry on NATS through the TLS ingress', async () => {
    first = await provisionOverMqtt('HWT-1');
    // The registry learns the device from provisioning.completed (outbox → EVENTS); the
    // ingress checks every message's device against it, so wait for it there first.
    await waitFor(
      () =>
        rpcRequest(bus, DEVICE_REGISTRY_SERVICE, DeviceRegistryOps.getDevice, {
          tenant: 'acme',
          device_id: first.deviceId,
        }),
      { timeoutMs: 60_000, intervalMs: 200, description: 'the device in the registry' },
    );
    const fleet = await connectTls(broker.ports.fleet, first, first.deviceId);
    const body = { msg_id: 't-1', ts: Date.now(), schema_version: 1, metrics: { v: 21 } };
    await fleet.publishAsync(`acme/sensor/${first.deviceId}/telemetry`, JSON.stringify(body), {
      qos: 1,
    });
    const subject = telemetrySubject(bus.naming, 'acme', 'sensor', first.deviceId);
    const stream = bus.naming.stream('TELEMETRY');
    const msg = await waitFor(
      async () => {
        const info = await bus.jsm.streams.info(stream, { subjects_filter: subject });
        return info.state.subjects?.[subject]
          ? bus.jsm.streams.getMessage(stream, { last_by_subj: subject })
          : null;
      },
      { timeoutMs: 30_000, intervalMs: 100, description: 'telemetry on NATS' },
    );
    expect(msg.subject).toBe(subject);
    expect(msg.json()).toMatchObject({
      tenant: 'acme',
      device_type: 'sensor',
      device_id: first.deviceId,
      msg_id: 't-1',
      metrics: { v: 21 },
    });
  });

  it('refuses a certificate from another CA and identities on the wrong listener', async () => {
    const other = await loadOrCreatePki(new MemorySecretStore());
    const stranger = await issueClientCertificate(other.fleet, {
      commonName: 'stranger',
      profile: 'device',
    });
    expect(await refusal(broker.ports.fleet, stranger, 'stranger')).toMatch(/unknown ca/);
    expect(await refusal(broker.ports.platform, first, `${ns}-ingress-x`)).toMatch(/unknown ca/);
    // A bootstrap certificate is not a fleet certificate either.
    const bootstrap = await issueClientCertificate(broker.pki.bootstrap, {
      commonName: 'HWT-2',
      profile: 'bootstrap',
    });
    expect(await refusal(broker.ports.fleet, bootstrap, 'HWT-2')).toMatch(/unknown ca/);
    // Nor is the ingress' own identity, even sent with its CA as a chain.
    const ingressIdentity = {
      certificatePem:
        readFileSync(broker.files.ingressCertFile, 'utf8') +
        readFileSync(broker.files.serviceCaFile, 'utf8'),
      privateKeyPem: readFileSync(broker.files.ingressKeyFile, 'utf8'),
    };
    expect(await refusal(broker.ports.fleet, ingressIdentity, 'drover-ingress')).toMatch(
      /unknown ca/,
    );
    expect(await refusal(broker.ports.platform, ingressIdentity, `${ns}-ingress-y`)).toBeNull();
  });

  it('refuses a revoked fleet certificate once the broker has reloaded the CRL', async () => {
    const second = await provisionOverMqtt('HWT-2');
    expect(await refusal(broker.ports.fleet, second, second.deviceId)).toBeNull();
    const res = await rpcRequest<{ revoked_serials: string[] }>(
      bus,
      PROVISIONING_SERVICE,
      Ops.revokeCertificate,
      { tenant: 'acme', device_id: second.deviceId },
    );
    expect(res.revoked_serials).toHaveLength(1);
    process.kill(mosquittoPid(mosquitto), 'SIGHUP');
    const why = await waitFor(() => refusal(broker.ports.fleet, second, second.deviceId), {
      timeoutMs: 15_000,
      intervalMs: 200,
      description: 'the revoked certificate refused',
    });
    expect(why).toMatch(/certificate revoked/);
    // The first device is untouched by the other's revocation.
    expect(await refusal(broker.ports.fleet, first, first.deviceId)).toBeNull();
  });
});
