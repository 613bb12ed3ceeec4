// The certificate row of a CSR provisioning is filled from the issue result, without parsing the
// certificate again: its facts must be exactly what the certificate says.
import { createHash, X509Certificate } from 'node:crypto';
import { ProvisioningOps as Ops } from '@drover/contracts';
import { type Harness, startHarness } from './provisioning.harness';
import { createCsr } from './pki.fixtures';

let h: Harness;
const T = 'facts';

beforeAll(async () => {
  h = await startHarness('prov_facts');
  await h.rpc(Ops.createEnrollment, {
    tenant: T,
    device_type: 'sensor',
    hardware_ids: ['FH-1'],
  });
}, 60_000);
afterAll(() => h.close());

type Ok = { device_id: string; certificate: string };

it('stores serial, validity, fingerprint and key hash as the certificate has them', async () => {
  const { csrPem } = await createCsr('fh-1');
  const res = await h.rpc<Ok>(Ops.provision, {
    hardware_id: 'FH-1',
    device_type: 'sensor',
    csr: csrPem,
    request_id: 'facts-1',
  });
  const row = await h.db
    .selectFrom('certificates')
    .selectAll()
    .where('device_id', '=', res.device_id)
    .executeTakeFirstOrThrow();
  const cert = new X509Certificate(res.certificate);
  expect(row.certificate_pem).toBe(res.certificate);
  expect(row.serial).toBe(cert.serialNumber.toLowerCase().replace(/^0+/, ''));
  expect(row.fingerprint_sha256).toBe(cert.fingerprint256.replace(/:/g, '').toLowerCase());
  expect(new Date(row.not_before).getTime()).toBe(new Date(cert.validFrom).getTime());
  expect(new Date(row.not_after).getTime()).toBe(new Date(cert.validTo).getTime());
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  expect(row.public_key_sha256).toBe(createHash('sha256').update(spki).digest('hex'));
  expect(row.status).toBe('active');
});
