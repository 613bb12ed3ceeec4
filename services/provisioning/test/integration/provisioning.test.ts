// Enrollment → provisioning over RPC (CSR and server-key paths), refusals, idempotency.
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { sql } from 'kysely';
import { ProvisioningOps as Ops } from '@drover/contracts';
import { createBootstrapCa, verifyCertificateChain } from '@drover/pki';
import { type Harness, startHarness } from './provisioning.harness';
import { bootstrapCert, commonName, createCsr, tamperedCsr, weakKeyCsr } from './pki.fixtures';

let h: Harness;
const T = 'acme';
type Ok = {
  status: 'ok';
  device_id: string;
  tenant: string;
  certificate: string;
  ca_chain: string;
  private_key?: string;
  endpoints: { mqtt: string; api: string };
  topics: Record<string, string>;
  msg_id: string;
};

beforeAll(async () => {
  h = await startHarness('prov_rpc');
  await h.rpc(Ops.createEnrollment, {
    tenant: T,
    device_type: 'sensor',
    hardware_ids: ['HW-1', 'HW-2', 'HW-3', 'HW-4'],
  });
  await h.rpc(Ops.createEnrollment, {
    tenant: T,
    device_type: 'gateway',
    hardware_ids: ['GW-1'],
    allow_server_keys: true,
  });
}, 60_000);
afterAll(() => h.close());

const provision = (body: Record<string, unknown>) =>
  h.rpc<Ok>(Ops.provision, { device_type: 'sensor', request_id: `r-${Math.random()}`, ...body });
const refusal = (body: Record<string, unknown>) =>
  provision(body).then(
    () => 'accepted',
    (err: { code: string }) => err.code,
  );

describe('provisioning', () => {
  it('issues a certificate for a CSR, CN = device id, chaining to the fleet CA', async () => {
    const { csrPem } = await createCsr('ignored-subject');
    const res = await provision({ hardware_id: 'HW-1', csr: csrPem });
    expect(res).toMatchObject({ status: 'ok', tenant: T });
    expect(res.device_id).toMatch(/^d-[0-9a-z]{26}$/);
    expect(res.private_key).toBeUndefined();
    expect(commonName(res.certificate)).toBe(res.device_id);
    expect((await verifyCertificateChain(res.certificate, h.pki.fleet.chainPems)).ok).toBe(true);
    expect(res.ca_chain).toContain(h.pki.fleet.certificatePem.trim());
    expect(res.topics.telemetry).toBe(`${T}/sensor/${res.device_id}/telemetry`);
    const [completed] = await h.waitEvents('drover.provisioning.completed.v1', res.device_id);
    const data = (completed!.body as { data: Record<string, unknown> }).data;
    expect(data).toMatchObject({ tenant: T, device_type: 'sensor', reprovisioned: false });
    // The registry's hash of a hardware id: the two services can match devices by it.
    expect(data.hardware_id_hash).toBe(createHash('sha256').update('HW-1').digest('hex'));
    expect(JSON.stringify(completed!.body)).not.toContain('HW-1');
    await h.waitEvents('drover.certificate.issued.v1', res.device_id);
  });

  it('generates the key where the enrollment allows it, and only there', async () => {
    const res = await h.rpc<Ok>(Ops.provision, {
      hardware_id: 'GW-1',
      device_type: 'gateway',
      request_id: 'gw-1',
    });
    expect(res.private_key).toContain('PRIVATE KEY');
    const certKey = new X509Certificate(res.certificate).publicKey.export({ format: 'jwk' });
    expect(createPublicKey(res.private_key!).export({ format: 'jwk' })).toEqual(certKey);
    expect(commonName(res.certificate)).toBe(res.device_id);
    expect(await refusal({ hardware_id: 'HW-2' })).toBe('server_keys_not_allowed');
  });

  it('keeps a server-generated key only encrypted in request_results, and replays it', async () => {
    const first = await h.rpc<Ok>(Ops.provision, {
      hardware_id: 'GW-1',
      device_type: 'gateway',
      request_id: 'gw-enc',
    });
    expect(first.private_key).toContain('PRIVATE KEY');
    const rows = await sql<{ request_key: string; raw: string }>`
      select request_key, response::text as raw from request_results`.execute(h.db);
    expect(rows.rows.length).toBeGreaterThan(0);
    const keyBody = first.private_key!.split('\n')[1]!;
    for (const row of rows.rows) {
      expect(row.raw).not.toContain('PRIVATE KEY');
      expect(row.raw).not.toContain(keyBody);
    }
    const stored = rows.rows.find((r) => r.request_key.endsWith(':gw-enc'))!;
    const sealed = (JSON.parse(stored.raw) as { private_key_sealed: Record<string, string> })
      .private_key_sealed;
    expect(sealed).toMatchObject({ alg: 'A256GCM', kid: h.service.ctx.resultCipher.kid });
    // A retry with the same request id gets the same key back, decrypted.
    const again = await h.rpc<Ok>(Ops.provision, {
      hardware_id: 'GW-1',
      device_type: 'gateway',
      request_id: 'gw-enc',
    });
    expect(again.private_key).toBe(first.private_key);
    expect(again.certificate).toBe(first.certificate);
    // A row copied under another request key does not open: the key is bound to its row.
    await sql`insert into request_results (request_key, response)
      select ${'prov:x:moved'}, response from request_results
      where request_key = ${stored.request_key}`.execute(h.db);
    const moved = await sql<{ response: unknown }>`
      select response from request_results where request_key = 'prov:x:moved'`.execute(h.db);
    expect(() =>
      h.service.ctx.resultCipher.open(
        (moved.rows[0]!.response as { private_key_sealed: never }).private_key_sealed,
        'prov:x:moved',
      ),
    ).toThrow();
  });

  it.each([
    [
      'not enrolled',
      async () => ({ hardware_id: 'HW-unknown', csr: (await createCsr('x')).csrPem }),
    ],
    [
      'wrong device type',
      async () => ({
        hardware_id: 'HW-2',
        device_type: 'gateway',
        csr: (await createCsr('x')).csrPem,
      }),
    ],
    [
      'other tenant',
      async () => ({ tenant: 'other', hardware_id: 'HW-2', csr: (await createCsr('x')).csrPem }),
    ],
    ['bad CSR signature', async () => ({ hardware_id: 'HW-2', csr: await tamperedCsr() })],
    ['weak CSR key', async () => ({ hardware_id: 'HW-2', csr: await weakKeyCsr() })],
    [
      'bootstrap cert of another hardware id',
      async () => ({
        hardware_id: 'HW-2',
        csr: (await createCsr('x')).csrPem,
        bootstrap_cert_pem: await bootstrapCert(h.pki.bootstrap, 'HW-3'),
      }),
    ],
  ])('refuses: %s', async (name, body) => {
    const expected: Record<string, string> = {
      'not enrolled': 'not_enrolled',
      'wrong device type': 'device_type_mismatch',
      'other tenant': 'not_enrolled',
      'bad CSR signature': 'bad_csr',
      'weak CSR key': 'bad_csr',
      'bootstrap cert of another hardware id': 'hardware_mismatch',
    };
    expect(await refusal(await body())).toBe(expected[name]);
  });

  it('records refusals as provisioning.failed', async () => {
    const failed = await h.waitEvents('drover.provisioning.failed.v1', undefined, 7);
    const codes = failed.map((e) => (e.body as { data: { error_code: string } }).data.error_code);
    expect(codes).toEqual(expect.arrayContaining(['not_enrolled', 'bad_csr', 'hardware_mismatch']));
  });

  it('is idempotent: same request id → same answer; same key → same certificate', async () => {
    const { csrPem } = await createCsr('a');
    const first = await provision({ hardware_id: 'HW-3', csr: csrPem, request_id: 'req-1' });
    const again = await provision({ hardware_id: 'HW-3', csr: csrPem, request_id: 'req-1' });
    expect(again).toEqual(first);
    const retried = await provision({ hardware_id: 'HW-3', csr: csrPem, request_id: 'req-2' });
    expect(retried.device_id).toBe(first.device_id);
    expect(retried.certificate).toBe(first.certificate);
    expect(retried.msg_id).not.toBe(first.msg_id);
    const certs = await h.db
      .selectFrom('certificates')
      .selectAll()
      .where('device_id', '=', first.device_id)
      .execute();
    expect(certs).toHaveLength(1);
  });

  it('a new CSR keeps the device id and supersedes the old certificate', async () => {
    const a = await provision({ hardware_id: 'HW-4', csr: (await createCsr('a')).csrPem });
    const b = await provision({ hardware_id: 'HW-4', csr: (await createCsr('b')).csrPem });
    expect(b.device_id).toBe(a.device_id);
    expect(b.certificate).not.toBe(a.certificate);
    const got = await h.rpc<{ current: { serial: string }; certificates: { status: string }[] }>(
      Ops.getCertificate,
      { tenant: T, device_id: a.device_id },
    );
    expect(got.certificates.map((c) => c.status).sort()).toEqual(['active', 'superseded']);
    const [completed] = await h.waitEvents('drover.provisioning.completed.v1', a.device_id, 2);
    expect(completed).toBeDefined();
  });

  it('group enrollment admits bootstrap certificates of its CA only', async () => {
    const factoryCa = await createBootstrapCa({ commonName: 'Factory 7' });
    await h.rpc(Ops.createEnrollment, {
      tenant: T,
      device_type: 'meter',
      bootstrap_ca_pem: factoryCa.certificatePem,
    });
    const csr = (await createCsr('m')).csrPem;
    const ok = await provision({
      hardware_id: 'MTR-1',
      device_type: 'meter',
      csr,
      bootstrap_cert_pem: await bootstrapCert(factoryCa, 'MTR-1'),
    });
    expect(ok.status).toBe('ok');
    const foreign = await bootstrapCert(h.pki.bootstrap, 'MTR-2');
    expect(
      await refusal({
        hardware_id: 'MTR-2',
        device_type: 'meter',
        csr,
        bootstrap_cert_pem: foreign,
      }),
    ).toBe('not_enrolled');
    expect(await refusal({ hardware_id: 'MTR-3', device_type: 'meter', csr })).toBe('not_enrolled');
    const list = await h.rpc<{ items: { kind: string }[] }>(Ops.listEnrollments, { tenant: T });
    expect(list.items.map((e) => e.kind).sort()).toEqual(['group', 'individual', 'individual']);
  });
});
