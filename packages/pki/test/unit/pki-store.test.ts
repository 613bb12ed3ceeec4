import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  EnvSecretStore,
  FileSecretStore,
  issueFromCsr,
  createCsr,
  loadOrCreatePki,
  MemorySecretStore,
  PKI_SECRET_NAMES,
  verifyCertificateChain,
} from '@drover/pki';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'drover-pki-store-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('loadOrCreatePki', () => {
  it('creates the CAs once and reloads the same ones', async () => {
    const store = new FileSecretStore(path.join(tmp, 'pki'));
    const first = await loadOrCreatePki(store);
    const again = await loadOrCreatePki(store);
    for (const ca of ['root', 'fleet', 'bootstrap', 'service'] as const) {
      expect(again[ca].certificatePem).toBe(first[ca].certificatePem);
    }
    expect(first.fleet.chainPems).toEqual([first.fleet.certificatePem, first.root.certificatePem]);
    expect(first.bootstrap.certificate.issuer).toBe(first.bootstrap.certificate.subject);
    // A reloaded fleet CA issues certificates that chain to the stored root.
    const { csrPem } = await createCsr('dev-1');
    const issued = await issueFromCsr(again.fleet, { csrPem, commonName: 'dev-1' });
    expect((await verifyCertificateChain(issued.certificatePem, first.fleet.chainPems)).ok).toBe(
      true,
    );
    // The bootstrap CA is not part of the fleet trust.
    expect(
      (await verifyCertificateChain(first.bootstrap.certificatePem, first.fleet.chainPems)).ok,
    ).toBe(false);
  });

  it('refuses a key that does not belong to the certificate', async () => {
    const store = new MemorySecretStore();
    await loadOrCreatePki(store);
    const other = new MemorySecretStore();
    await loadOrCreatePki(other);
    await store.put(PKI_SECRET_NAMES.fleetKey, other.values.get(PKI_SECRET_NAMES.fleetKey)!);
    await expect(loadOrCreatePki(store)).rejects.toThrow('fleet-ca-key does not match');
  });

  it('refuses a certificate without its key', async () => {
    const store = new MemorySecretStore();
    await loadOrCreatePki(store);
    store.values.delete(PKI_SECRET_NAMES.bootstrapKey);
    await expect(loadOrCreatePki(store)).rejects.toThrow('must both exist');
  });

  it('loads from a read-only environment store and fails clearly when it is empty', async () => {
    const source = new MemorySecretStore();
    const created = await loadOrCreatePki(source);
    const env = Object.fromEntries(
      [...source.values].map(([k, v]) => [
        `DROVER_SECRET_${k.replace(/-/g, '_').toUpperCase()}`,
        Buffer.from(v).toString('base64'),
      ]),
    );
    const loaded = await loadOrCreatePki(new EnvSecretStore('DROVER_SECRET_', env));
    expect(loaded.fleet.certificatePem).toBe(created.fleet.certificatePem);
    await expect(loadOrCreatePki(new EnvSecretStore('DROVER_SECRET_', {}))).rejects.toThrow(
      'read-only',
    );
    await expect(loadOrCreatePki(new MemorySecretStore(), { create: false })).rejects.toThrow(
      'no root CA',
    );
  });
});
