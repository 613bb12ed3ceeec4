import { readFile, stat, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileSecretStore, prepareSecureBroker, verifyCertificateChain } from '@drover/pki';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'drover-secure-broker-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('prepareSecureBroker', () => {
  it('writes a runnable directory and reuses the PKI and share group on the next start', async () => {
    const store = new FileSecretStore(path.join(tmp, 'secrets'));
    const dir = path.join(tmp, 'broker');
    const first = await prepareSecureBroker({ dir, store, user: 'root' });
    const second = await prepareSecureBroker({ dir, store });
    expect(second.pki.fleet.certificatePem).toBe(first.pki.fleet.certificatePem);
    expect(second.shareGroup).toBe(first.shareGroup);
    expect(first.ports).toEqual({ fleet: 8883, provisioning: 8884, platform: 8885 });
    const conf = await readFile(first.configPath, 'utf8');
    expect(conf).toContain('user root');
    expect(conf).toContain(`crlfile ${first.files.crlFile}`);
    for (const key of [first.files.keyFile, first.files.ingressKeyFile]) {
      expect((await stat(key)).mode & 0o777).toBe(0o600);
    }
    const server = await readFile(first.files.certFile, 'utf8');
    const chain = await verifyCertificateChain(server, first.pki.fleet.chainPems);
    expect(chain.ok).toBe(true);
    const ingress = await readFile(first.files.ingressCertFile, 'utf8');
    expect((await verifyCertificateChain(ingress, [first.pki.service.certificatePem])).ok).toBe(
      true,
    );
    expect((await verifyCertificateChain(ingress, first.pki.fleet.chainPems)).ok).toBe(false);
  });
});
