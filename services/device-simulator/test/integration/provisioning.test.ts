// Zero-touch provisioning of simulated devices on a private Mosquitto with the generated mTLS
// listeners: the simulator enrolls its hardware ids, each device connects with its bootstrap
// certificate to the provisioning listener, gets a fleet certificate and its device id through
// the ingress' bridge and the real provisioning service, and comes online on the fleet
// listener; `certificate.rotate` renews the certificate over cert/renew and reconnects with it.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Bus, publish, rpcRequest } from '@drover/bus';
import {
  PROVISIONING_SERVICE,
  ProvisioningOps,
  commandSubject,
  deviceSubject,
  telemetrySubject,
} from '@drover/contracts';
import { createLogger } from '@drover/observability';
import { MemorySecretStore, type SecureBroker, prepareSecureBroker } from '@drover/pki';
import {
  type PrivateMosquitto,
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  freePort,
  portAccepts,
  startPrivateMosquitto,
  testNamespace,
  waitFor,
  withTestBus,
} from '@drover/testing';
import { startDeviceRegistry } from '../../../device-registry/src/app';
import { type MqttIngress, startMqttIngress } from '../../../mqtt-ingress/src/app';
import { loadIngressConfig } from '../../../mqtt-ingress/src/config';
import { type ProvisioningService, startProvisioning } from '../../../provisioning/src/app';
import { type DeviceSimulator, startDeviceSimulator } from '../../src/app';
import { loadSimulatorConfig } from '../../src/config';

jest.setTimeout(180_000);

const FLEET = 3;
const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

describe('simulated devices provision themselves over mTLS', () => {
  const ns = testNamespace('sim_prov');
  const provSchema = `${ns}_prov`;
  const regSchema = `${ns}_reg`;
  let tmp: string;
  let broker: SecureBroker;
  let mosquitto: PrivateMosquitto | undefined;
  let bus: Bus;
  let provisioning: ProvisioningService | undefined;
  let registry: Awaited<ReturnType<typeof startDeviceRegistry>> | undefined;
  let ingress: MqttIngress | undefined;
  let sim: DeviceSimulator | undefined;
  const dbs: Array<[Awaited<ReturnType<typeof createTestDb>>, string]> = [];

  const lastOn = async (stream: string, subject: string) => {
    const info = await bus.jsm.streams.info(bus.naming.stream(stream), {
      subjects_filter: subject,
    });
    if (!info.state.subjects?.[subject]) return null;
    const m = await bus.jsm.streams.getMessage(bus.naming.stream(stream), {
      last_by_subj: subject,
    });
    return m.json<Record<string, unknown>>();
  };

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'drover-sim-prov-'));
    broker = await prepareSecureBroker({
      dir: path.join(tmp, 'broker'),
      store: new MemorySecretStore(),
      fleetPort: await freePort(),
      provisioningPort: await freePort(),
      platformPort: await freePort(),
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
        CRL_PATH: broker.files.crlFile,
        PUBLIC_MQTT_URL: `mqtts://127.0.0.1:${broker.ports.fleet}`,
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
        // A fresh device's first status meets a negative cache entry; keep it short.
        META_CACHE_TTL_MS: '500',
      }),
      { logger: silent },
    );
    sim = await startDeviceSimulator(
      loadSimulatorConfig({
        NATS_URL: TEST_NATS_URL,
        DROVER_NAMESPACE: ns,
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
        OPS_PORT: '0',
        FLEET_SIZE: String(FLEET),
        SIM_TENANT: 'acme',
        SIM_PROVISIONING: 'true',
        SIM_PROVISIONING_URL: `mqtts://127.0.0.1:${broker.ports.provisioning}`,
        SIM_BROKER_CA_FILE: broker.files.caFile,
        SIM_TELEMETRY_INTERVAL_S: '0.5',
        SIM_RECONNECT_MIN_MS: '100',
        SIM_RECONNECT_MAX_MS: '1000',
        SIM_REANNOUNCE_AFTER_PROVISIONING_MS: '2000',
      }),
      { logger: silent, bootstrapCa: broker.pki.bootstrap },
    );
    await sim.up;
  });

  afterAll(async () => {
    await sim?.stop();
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

  it('provisions every device and brings it online on the fleet listener with its new id', async () => {
    expect(sim?.onlineCount()).toBe(FLEET);
    const ids = sim?.devices.map((d) => d.id) ?? [];
    // The ids come from provisioning, not from the simulator's plan.
    expect(ids.filter((id) => id.startsWith('sim-acme-'))).toEqual([]);
    expect(new Set(ids).size).toBe(FLEET);
    for (const id of ids) {
      const device = await waitFor(
        async () => {
          const d = await rpcRequest<{ connectivity: string }>(
            bus,
            'device-registry',
            'get_device',
            {
              tenant: 'acme',
              device_id: id,
            },
          );
          return d.connectivity === 'online' ? d : null;
        },
        { timeoutMs: 20_000 },
      );
      expect(device.connectivity).toBe('online');
      const telemetry = await waitFor(() =>
        lastOn('TELEMETRY', telemetrySubject(bus.naming, 'acme', 'sensor', id)),
      );
      expect(telemetry).toMatchObject({ device_id: id });
    }
  });

  it('renews its certificate on certificate.rotate and reconnects with it', async () => {
    const id = sim?.devices[0]?.id as string;
    const certificate = () =>
      rpcRequest<{ current: { serial: string } | null }>(
        bus,
        PROVISIONING_SERVICE,
        ProvisioningOps.getCertificate,
        { tenant: 'acme', device_id: id },
      ).then((c) => c.current?.serial);
    const before = await certificate();
    const connections = sim?.devices[0]?.connections ?? 0;
    await publish(
      bus,
      commandSubject(bus.naming, 'acme', id),
      {
        msg_id: 'rotate-1',
        ts: Date.now(),
        schema_version: 1,
        command: { name: 'certificate.rotate', params: {} },
        expires_at: new Date(Date.now() + 60_000).toISOString(),
      },
      { msgId: 'rotate-1' },
    );
    const result = await waitFor(
      async () => {
        const r = await lastOn('DEVICE', deviceSubject(bus.naming, 'cmd_res', 'acme', id));
        return r?.status === 'succeeded' ? r : null;
      },
      { timeoutMs: 60_000, description: 'rotate answered' },
    );
    expect(result).toMatchObject({ cmd_id: 'rotate-1', result: { not_after: expect.any(String) } });
    const after = await waitFor(async () => {
      const c = await certificate();
      return c !== before ? c : null;
    });
    expect(before).toEqual(expect.any(String));
    expect(after).not.toBe(before);
    // Back online on the fleet listener with the new certificate.
    await waitFor(
      () => ((sim?.devices[0]?.connections ?? 0) > connections && sim?.devices[0]?.online) || null,
      { timeoutMs: 30_000 },
    );
    expect(sim?.onlineCount()).toBe(FLEET);
  });
});
