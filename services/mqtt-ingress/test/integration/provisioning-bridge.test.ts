// Zero-touch provisioning over MQTT through the ingress bridge, with real mqtt.js clients on
// the local broker (topic prefix = the test namespace) and the real provisioning service.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { publish, rpcRequest } from '@drover/bus';
import { deviceSubject, PROVISIONING_SERVICE, ProvisioningOps as Ops } from '@drover/contracts';
import { createLogger } from '@drover/observability';
import { createCsr, verifyCertificateChain, x509 } from '@drover/pki';
import { startProvisioning, type ProvisioningService } from '../../../provisioning/src/app';
import {
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  testNamespace,
  waitFor,
  withTestBus,
} from '@drover/testing';
import { type Kysely } from 'kysely';
import {
  type ProvisioningBridge,
  startProvisioningBridge,
} from '../../src/adapters/mqtt/provisioning.bridge';

const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const ns = testNamespace('ingress_prov');
const schema = `${ns}_prov`;
const silent = createLogger({
  service: 'bridge-test',
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
});
let bus: Awaited<ReturnType<typeof withTestBus>>;
let db: Kysely<unknown>;
let service: ProvisioningService;
let bridge: ProvisioningBridge;
const clients: MqttClient[] = [];
const dir = mkdtempSync(join(tmpdir(), 'drover-bridge-'));

async function connect(clientId: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(MQTT_URL, { clientId, clean: true, reconnectPeriod: 0 });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  bus = await withTestBus(ns);
  db = await createTestDb(schema, { poolMax: 1 });
  service = await startProvisioning(
    {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      DB_SCHEMA: schema,
      DB_POOL_MAX: 3,
      DROVER_NAMESPACE: ns,
      OUTBOX_POLL_MS: 50,
      CRL_PATH: join(dir, 'crl.pem'),
      PKI_DIR: join(dir, 'pki'),
    },
    { logger: silent },
  );
  const egress = await connect(`${ns}-egress`);
  bridge = await startProvisioningBridge({
    bus,
    subscriber: await connect(`${ns}-prov`),
    egress: {
      publish: async (t, p, retain) => void (await egress.publishAsync(t, p, { qos: 1, retain })),
    },
    prefix: ns,
    shareGroup: 'ingress',
    maxBytes: 256 * 1024,
    logger: silent,
  });
  // The RPC subscription reaches the server asynchronously: the first call may need a retry.
  await waitFor(() =>
    rpcRequest(bus, PROVISIONING_SERVICE, Ops.createEnrollment, {
      tenant: 'acme',
      device_type: 'sensor',
      hardware_ids: ['HWM-1', 'HWM-2'],
      allow_server_keys: true,
    }),
  );
}, 60_000);

afterAll(async () => {
  await bridge?.stop();
  await Promise.all(clients.map((c) => c.endAsync()));
  await service?.stop();
  await cleanupNamespace(ns, { bus });
  await bus.close();
  await dropTestDb(db, schema);
  rmSync(dir, { recursive: true, force: true });
});

async function ask(hw: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const device = await connect(`bootstrap-${hw}-${clients.length}`);
  const res = `${ns}/provisioning/${hw}/res`;
  const answer = new Promise<Record<string, unknown>>((resolve) =>
    device.on('message', (topic, payload) => {
      if (topic === res) resolve(JSON.parse(payload.toString()) as Record<string, unknown>);
    }),
  );
  await device.subscribeAsync(res, { qos: 1 });
  await device.publishAsync(`${ns}/provisioning/${hw}/req`, JSON.stringify(body), { qos: 1 });
  return answer;
}

const request = (msgId: string, extra: Record<string, unknown> = {}) => ({
  msg_id: msgId,
  ts: Date.now(),
  schema_version: 1,
  device_type: 'sensor',
  ...extra,
});

describe('provisioning over MQTT', () => {
  it('answers a CSR request with a fleet certificate, CN = device id', async () => {
    const { csrPem } = await createCsr('HWM-1');
    const res = await ask('HWM-1', request('m-1', { csr: csrPem }));
    expect(res).toMatchObject({ status: 'ok', request_id: 'm-1', tenant: 'acme' });
    const cert = new x509.X509Certificate(res.certificate as string);
    expect(cert.subjectName.getField('CN')[0]).toBe(res.device_id);
    const chain = (res.ca_chain as string).match(
      /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
    )!;
    expect((await verifyCertificateChain(res.certificate as string, chain)).ok).toBe(true);
    // The same request again (a lost answer): the same answer.
    expect(await ask('HWM-1', request('m-1', { csr: csrPem }))).toEqual(res);
  });

  it('generates the key when no CSR is sent and the enrollment allows it', async () => {
    const res = await ask('HWM-2', request('m-2'));
    expect(res).toMatchObject({ status: 'ok' });
    expect(res.private_key).toContain('PRIVATE KEY');
  });

  it('answers refusals and malformed requests with an error', async () => {
    const refused = await ask('HWM-9', request('m-3', { csr: (await createCsr('x')).csrPem }));
    expect(refused).toMatchObject({
      status: 'error',
      request_id: 'm-3',
      error: { code: 'not_enrolled' },
    });
    const bad = await ask('HWM-1', { msg_id: 'm-4', schema_version: 1 });
    expect(bad).toMatchObject({
      status: 'error',
      request_id: 'm-4',
      error: { code: 'bad_request' },
    });
  });

  it('forwards renewal answers to <root>/cert/renew/res', async () => {
    const device = await connect(`${ns}-d1`);
    const topic = `${ns}/acme/sensor/d1/cert/renew/res`;
    const got = new Promise<Record<string, unknown>>((resolve) =>
      device.on(
        'message',
        (t, p) => t === topic && resolve(JSON.parse(p.toString()) as Record<string, unknown>),
      ),
    );
    await device.subscribeAsync(topic, { qos: 1 });
    const response = {
      msg_id: 'r-1',
      ts: new Date().toISOString(),
      schema_version: 1,
      request_id: 'renew-1',
      status: 'error',
      error: { code: 'bad_csr', detail: 'CN mismatch' },
    };
    await publish(
      bus,
      deviceSubject(bus.naming, 'cert_renew_res', 'acme', 'd1'),
      { tenant: 'acme', device_type: 'sensor', device_id: 'd1', response },
      { msgId: 'renew-res-r-1' },
    );
    expect(await got).toEqual(response);
  });
});
