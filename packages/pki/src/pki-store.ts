// The fleet PKI persisted in a SecretStore: created on first start, reloaded afterwards.
import { webcrypto } from 'node:crypto';
import {
  createBootstrapCa,
  createIntermediateCa,
  createRootCa,
  type CertificateAuthority,
} from './ca';
import {
  type CryptoKey,
  EC_P256,
  ECDSA_SHA256,
  exportPrivateKeyPem,
  importPrivateKeyPem,
  x509,
} from './crypto';
import { type SecretStore } from './secret-store';

/** The three CAs of a Drover installation. */
export interface FleetPki {
  /** Self-signed root (10 years); only signs the fleet CA. */
  root: CertificateAuthority;
  /** Intermediate fleet CA (5 years, pathLen 0): signs device, ingress and broker certificates. */
  fleet: CertificateAuthority;
  /** Bootstrap (factory) CA, its own root: signs bootstrap certificates (CN = hardware id). */
  bootstrap: CertificateAuthority;
  /** Service CA, its own root: signs platform identities (the ingress) for the platform listener. */
  service: CertificateAuthority;
}

/** Options of {@link loadOrCreatePki}. */
export interface LoadOrCreatePkiOptions {
  /** Subject O of new CAs (default `Drover`). */
  organization?: string;
  /** Create missing CAs (default true); false = fail when the store has none. */
  create?: boolean;
}

/** Secret names used in the store (`<ca>-ca-cert`, `<ca>-ca-key`). */
export const PKI_SECRET_NAMES = {
  rootCert: 'root-ca-cert',
  rootKey: 'root-ca-key',
  fleetCert: 'fleet-ca-cert',
  fleetKey: 'fleet-ca-key',
  bootstrapCert: 'bootstrap-ca-cert',
  bootstrapKey: 'bootstrap-ca-key',
  serviceCert: 'service-ca-cert',
  serviceKey: 'service-ca-key',
} as const;

async function keyMatches(cert: x509.X509Certificate, key: CryptoKey): Promise<boolean> {
  const probe = new TextEncoder().encode('drover-pki-key-check');
  const subtle = webcrypto.subtle;
  const sig = await subtle.sign(ECDSA_SHA256, key, probe);
  const pub = await cert.publicKey.export(EC_P256, ['verify']);
  return subtle.verify(ECDSA_SHA256, pub as unknown as CryptoKey, sig, probe);
}

async function load(
  store: SecretStore,
  certName: string,
  keyName: string,
  parent?: CertificateAuthority,
): Promise<CertificateAuthority | undefined> {
  const [certPem, keyPem] = await Promise.all([store.get(certName), store.get(keyName)]);
  if (certPem === undefined && keyPem === undefined) return undefined;
  if (certPem === undefined || keyPem === undefined) {
    throw new Error(`${store.description}: ${certName} and ${keyName} must both exist`);
  }
  const certificate = new x509.X509Certificate(certPem);
  const privateKey = await importPrivateKeyPem(keyPem);
  // A half-finished earlier write (or two concurrent creators) could pair a key with another
  // CA's certificate: refuse instead of issuing certificates nobody can verify.
  if (!(await keyMatches(certificate, privateKey))) {
    throw new Error(`${store.description}: ${keyName} does not match ${certName}`);
  }
  const certificatePem = certificate.toString('pem');
  return {
    certificate,
    certificatePem,
    privateKey,
    chainPems: [certificatePem, ...(parent?.chainPems ?? [])],
  };
}

async function save(
  store: SecretStore,
  certName: string,
  keyName: string,
  ca: CertificateAuthority,
): Promise<void> {
  // Key first: a certificate without its key is useless, a key without certificate is retried.
  await store.put(keyName, await exportPrivateKeyPem(ca.privateKey));
  await store.put(certName, ca.certificatePem);
}

/**
 * Loads the root, fleet, bootstrap and service CAs from `store`, creating (and saving) the missing ones.
 * Call it from one process at a time (the provisioning service at start, or `prepareSecureBroker`).
 */
export async function loadOrCreatePki(
  store: SecretStore,
  opts: LoadOrCreatePkiOptions = {},
): Promise<FleetPki> {
  const n = PKI_SECRET_NAMES;
  const create = opts.create ?? true;
  const org = opts.organization;
  const missing = (what: string): Error =>
    new Error(`${store.description}: no ${what} CA and creation is disabled`);

  let root = await load(store, n.rootCert, n.rootKey);
  if (!root) {
    if (!create) throw missing('root');
    root = await createRootCa({ commonName: 'Drover Root CA', organization: org });
    await save(store, n.rootCert, n.rootKey, root);
  }
  let fleet = await load(store, n.fleetCert, n.fleetKey, root);
  if (!fleet) {
    if (!create) throw missing('fleet');
    fleet = await createIntermediateCa(root, { commonName: 'Drover Fleet CA', organization: org });
    await save(store, n.fleetCert, n.fleetKey, fleet);
  }
  let bootstrap = await load(store, n.bootstrapCert, n.bootstrapKey);
  if (!bootstrap) {
    if (!create) throw missing('bootstrap');
    bootstrap = await createBootstrapCa({ organization: org });
    await save(store, n.bootstrapCert, n.bootstrapKey, bootstrap);
  }
  let service = await load(store, n.serviceCert, n.serviceKey);
  if (!service) {
    if (!create) throw missing('service');
    service = await createRootCa({
      commonName: 'Drover Service CA',
      organization: org,
      pathLength: 0,
    });
    await save(store, n.serviceCert, n.serviceKey, service);
  }
  return { root, fleet, bootstrap, service };
}
