// /api/v1 provisioning over HTTP (inject) against the real registry and the real provisioning
// service, in-process on the stack's namespace: enrollments, REST provisioning (CSR and
// server key), each refusal class and its status, Idempotency-Key replay, the certificate
// lifecycle and tenant scoping.
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@drover/observability';
import { createCsr, loadOrCreatePki, MemorySecretStore } from '@drover/pki';
import { UnavailableError } from '@drover/service-kit';
import {
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  createTestDb,
  dropTestDb,
  waitFor,
} from '@drover/testing';
import { createLocalProvider } from '../../../provisioning/src/adapters/cloud/local.provider';
import { type ProvisioningService, startProvisioning } from '../../../provisioning/src/app';
import { type Stack, startStack } from '../support/stack';

let stack: Stack;
let provisioning: ProvisioningService;
let operator: { authorization: string };
let schema: string;
const dir = mkdtempSync(join(tmpdir(), 'drover-gw-prov-'));
// The cloud can be made to throttle, as AWS does under load (the resilience layer's code).
let cloudDown = false;

beforeAll(async () => {
  stack = await startStack('gw_prov');
  schema = `${stack.ns}_prov`;
  const local = createLocalProvider({ mqtt: 'mqtts://127.0.0.1:8883', api: 'http://x' });
  provisioning = await startProvisioning(
    {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      DROVER_NAMESPACE: stack.ns,
      DB_SCHEMA: schema,
      DB_POOL_MAX: 4,
      OUTBOX_POLL_MS: 50,
      CRL_PATH: join(dir, 'crl.pem'),
    },
    {
      logger: createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      pki: await loadOrCreatePki(new MemorySecretStore()),
      resultKey: randomBytes(32),
      cloud: {
        ...local,
        createIdentity: async (identity) => {
          if (cloudDown) throw new UnavailableError('cloud_throttled', 'CreateThing: throttled');
          return local.createIdentity(identity);
        },
      },
    },
  );
  operator = await stack.bearer('provisioning:write devices:read devices:write');
  const enroll = (payload: Record<string, unknown>) =>
    stack.app.inject({ method: 'POST', url: '/api/v1/enrollments', headers: operator, payload });
  expect(
    (await enroll({ device_type: 'sensor', hardware_ids: ['HW-1', 'HW-2', 'HW-3'] })).statusCode,
  ).toBe(201);
  expect(
    (
      await enroll({
        device_type: 'gateway',
        hardware_ids: ['GW-1', 'GW-2'],
        allow_server_keys: true,
      })
    ).statusCode,
  ).toBe(201);
}, 60_000);

afterAll(async () => {
  await provisioning?.stop();
  const db = await createTestDb(schema);
  await dropTestDb(db, schema);
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Provisioned = {
  status: 'ok';
  request_id: string;
  device_id: string;
  tenant: string;
  certificate: string;
  ca_chain: string;
  private_key?: string;
  endpoints: { mqtt: string; api: string };
  topics: Record<string, string>;
};

const provision = (payload: Record<string, unknown>, headers: Record<string, string> = operator) =>
  stack.app.inject({ method: 'POST', url: '/api/v1/devices/provision', headers, payload });

describe('enrollments', () => {
  it('creates an enrollment (201) and lists the tenant’s own', async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/enrollments',
      headers: operator,
      payload: { device_type: 'meter', hardware_ids: ['M-1', 'M-2'] },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      tenant: 'acme',
      device_type: 'meter',
      kind: 'individual',
      hardware_id_count: 2,
      allow_server_keys: false,
    });
    const list = await stack.app.inject({
      url: '/api/v1/enrollments?device_type=meter',
      headers: operator,
    });
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((e: { enrollment_id: string }) => e.enrollment_id)).toEqual([
      res.json().enrollment_id,
    ]);
    const other = await stack.app.inject({
      url: '/api/v1/enrollments',
      headers: await stack.bearer('provisioning:write', 'globex'),
    });
    expect(other.json()).toEqual({ items: [], next_cursor: null });
  });

  it('refuses a body with both kinds (400) and a token without provisioning:write (403)', async () => {
    const both = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/enrollments',
      headers: operator,
      payload: { device_type: 'x', hardware_ids: ['a'], bootstrap_ca_pem: '-----BEGIN X' },
    });
    expect(both.statusCode).toBe(400);
    expect(both.json()).toMatchObject({ correlation_id: expect.any(String) });
    const noScope = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/enrollments',
      headers: await stack.bearer('devices:write'),
      payload: { device_type: 'x', hardware_ids: ['a'] },
    });
    expect(noScope.statusCode).toBe(403);
    expect(noScope.json().error_code).toBe('insufficient_scope');
  });
});

describe('POST /devices/provision', () => {
  it('issues a certificate for a CSR (CN = device id) and registers the device', async () => {
    const { csrPem } = await createCsr('anything');
    const res = await provision({ hardware_id: 'HW-1', device_type: 'sensor', csr: csrPem });
    expect(res.statusCode).toBe(200);
    const body = res.json<Provisioned>();
    expect(body).toMatchObject({ status: 'ok', tenant: 'acme' });
    expect(body.private_key).toBeUndefined();
    expect(new X509Certificate(body.certificate).subject).toBe(`CN=${body.device_id}`);
    expect(body.ca_chain).toContain('BEGIN CERTIFICATE');
    expect(body.endpoints.mqtt).toBe('mqtts://127.0.0.1:8883');
    // No Idempotency-Key: a fresh ULID request id.
    expect(body.request_id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    // The registry learns the device from provisioning.completed.
    await waitFor(
      async () =>
        (await stack.app.inject({ url: `/api/v1/devices/${body.device_id}`, headers: operator }))
          .statusCode === 200,
      { timeoutMs: 15_000, description: 'device registered' },
    );
    const certs = await stack.app.inject({
      url: `/api/v1/devices/${body.device_id}/certificate`,
      headers: operator,
    });
    expect(certs.statusCode).toBe(200);
    expect(certs.json().current).toMatchObject({ status: 'active' });
  });

  it('replays a server-generated key for the same Idempotency-Key, and only there', async () => {
    const headers = { ...operator, 'idempotency-key': 'factory-line-7:GW-1' };
    const first = await provision({ hardware_id: 'GW-1', device_type: 'gateway' }, headers);
    expect(first.statusCode).toBe(200);
    const a = first.json<Provisioned>();
    expect(a.private_key).toContain('PRIVATE KEY');
    expect(a.request_id).toBe('factory-line-7:GW-1');
    const second = await provision({ hardware_id: 'GW-1', device_type: 'gateway' }, headers);
    expect(second.statusCode).toBe(200);
    const b = second.json<Provisioned>();
    expect(b.private_key).toBe(a.private_key);
    expect(b.certificate).toBe(a.certificate);
    // The answer with the key is not kept by the gateway's replay store (Redis) at all.
    const kept = await stack.redis.keys(`*factory-line-7*`);
    expect(kept).toEqual([]);
    // Another key: same device, a new key and certificate.
    const other = await provision(
      { hardware_id: 'GW-1', device_type: 'gateway' },
      { ...operator, 'idempotency-key': 'factory-line-7:GW-1:again' },
    );
    expect(other.json<Provisioned>().device_id).toBe(a.device_id);
    expect(other.json<Provisioned>().private_key).not.toBe(a.private_key);
  });

  it('hashes a long Idempotency-Key into the request id, and refuses a bad one', async () => {
    const long = 'k'.repeat(200);
    const { csrPem } = await createCsr('x');
    const res = await provision(
      { hardware_id: 'HW-2', device_type: 'sensor', csr: csrPem },
      { ...operator, 'idempotency-key': long },
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().request_id).toMatch(/^[0-9a-f]{64}$/);
    const bad = await provision(
      { hardware_id: 'HW-2', device_type: 'sensor', csr: csrPem },
      { ...operator, 'idempotency-key': 'spaces are not allowed' },
    );
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error_code).toBe('invalid_idempotency_key');
  });

  it.each([
    [
      'not_enrolled',
      403,
      async () => ({
        hardware_id: 'HW-nope',
        device_type: 'sensor',
        csr: (await createCsr('x')).csrPem,
      }),
    ],
    [
      'device_type_mismatch',
      403,
      async () => ({
        hardware_id: 'HW-3',
        device_type: 'gateway',
        csr: (await createCsr('x')).csrPem,
      }),
    ],
    ['server_keys_not_allowed', 403, async () => ({ hardware_id: 'HW-3', device_type: 'sensor' })],
    [
      'bad_csr',
      400,
      async () => ({
        hardware_id: 'HW-3',
        device_type: 'sensor',
        csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
      }),
    ],
    ['validation_failed', 400, async () => ({ hardware_id: 'HW-3' })],
  ])('refuses %s with %i and the error shape', async (code, status, body) => {
    const res = await provision(await body());
    expect(res.statusCode).toBe(status);
    expect(res.json()).toEqual({
      error_code: code,
      detail: expect.any(String),
      correlation_id: res.headers['x-correlation-id'],
    });
  });

  it('answers 503 cloud_throttled while the cloud throttles, then provisions', async () => {
    const { csrPem } = await createCsr('x');
    cloudDown = true;
    const res = await provision({ hardware_id: 'HW-3', device_type: 'sensor', csr: csrPem });
    cloudDown = false;
    expect(res.statusCode).toBe(503);
    expect(res.json().error_code).toBe('cloud_throttled');
    const retry = await provision({ hardware_id: 'HW-3', device_type: 'sensor', csr: csrPem });
    expect(retry.statusCode).toBe(200);
  });

  it("never provisions another tenant's enrolled hardware (403 not_enrolled)", async () => {
    const { csrPem } = await createCsr('x');
    const res = await provision(
      { hardware_id: 'HW-2', device_type: 'sensor', csr: csrPem },
      await stack.bearer('provisioning:write', 'globex'),
    );
    expect(res.statusCode).toBe(403);
    expect(res.json().error_code).toBe('not_enrolled');
  });
});

describe('certificate lifecycle', () => {
  let deviceId: string;
  beforeAll(async () => {
    const res = await provision({ hardware_id: 'GW-2', device_type: 'gateway' });
    expect(res.statusCode).toBe(200);
    deviceId = res.json<Provisioned>().device_id;
  });

  it('rotate asks the device for a renewal (202)', async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: `/api/v1/devices/${deviceId}/certificate/rotate`,
      headers: operator,
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ device_id: deviceId, status: 'requested' });
    expect(res.json().command_id).toEqual(expect.any(String));
  });

  it("another tenant's device is 404, an unknown serial 404", async () => {
    const other = await stack.app.inject({
      method: 'POST',
      url: `/api/v1/devices/${deviceId}/certificate/revoke`,
      headers: await stack.bearer('provisioning:write', 'globex'),
      payload: {},
    });
    expect(other.statusCode).toBe(404);
    expect(other.json().error_code).toBe('device_not_found');
    const serial = await stack.app.inject({
      method: 'POST',
      url: `/api/v1/devices/${deviceId}/certificate/revoke`,
      headers: operator,
      payload: { serial: 'abc123' },
    });
    expect(serial.statusCode).toBe(404);
    expect(serial.json().error_code).toBe('certificate_not_found');
  });

  it('revoke revokes every certificate (with a reason, and without a body)', async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: `/api/v1/devices/${deviceId}/certificate/revoke`,
      headers: operator,
      payload: { reason: 'device stolen' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().revoked_serials).toHaveLength(1);
    const again = await stack.app.inject({
      method: 'POST',
      url: `/api/v1/devices/${deviceId}/certificate/revoke`,
      headers: operator,
    });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ device_id: deviceId, revoked_serials: [] });
    const certs = await stack.app.inject({
      url: `/api/v1/devices/${deviceId}/certificate`,
      headers: operator,
    });
    expect(certs.json().certificates[0]).toMatchObject({ status: 'revoked' });
  });

  it('a decommissioned device is refused on provisioning (403 decommissioned)', async () => {
    await waitFor(
      async () =>
        (await stack.app.inject({ url: `/api/v1/devices/${deviceId}`, headers: operator }))
          .statusCode === 200,
      { timeoutMs: 15_000, description: 'device registered' },
    );
    const del = await stack.app.inject({
      method: 'DELETE',
      url: `/api/v1/devices/${deviceId}`,
      headers: operator,
    });
    expect(del.statusCode).toBe(200);
    // The registry's device.decommissioned event reaches provisioning asynchronously.
    await waitFor(
      async () => {
        const row = await provisioning.ctx.db
          .selectFrom('identities')
          .select('decommissioned_at')
          .where('device_id', '=', deviceId)
          .executeTakeFirst();
        return row?.decommissioned_at != null;
      },
      { timeoutMs: 15_000, description: 'provisioning saw the decommissioning' },
    );
    const res = await provision({ hardware_id: 'GW-2', device_type: 'gateway' });
    expect(res.statusCode).toBe(403);
    const code = res.json().error_code;
    expect(code).toBe('decommissioned');
  });
});
