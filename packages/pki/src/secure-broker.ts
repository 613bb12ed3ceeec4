// Everything a Mosquitto with mTLS needs, written to one directory from the PKI in a store:
// what `npm start` and the integration tests call.
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { issueClientCertificate, issueServerCertificate } from './ca';
import { createCrl, type RevokedEntry } from './crl';
import {
  INGRESS_IDENTITY,
  randomShareGroup,
  renderAclFile,
  renderMosquittoConfig,
  renderPlatformAclFile,
  renderProvisioningAclFile,
} from './mosquitto-config';
import { loadOrCreatePki, type FleetPki } from './pki-store';
import { type SecretStore } from './secret-store';

const DAY_MS = 86_400_000;
/** Secret holding the ingress' share group (see randomShareGroup). */
export const SHARE_GROUP_SECRET = 'ingress-share-group';

/** Options of {@link prepareSecureBroker}. */
export interface PrepareSecureBrokerOptions {
  /** Output directory (created 0700). */
  dir: string;
  /** Where the CAs live (created on first use). */
  store: SecretStore;
  /** Fleet listener port (default 8883). */
  fleetPort?: number;
  /** Provisioning listener port (default 8884). */
  provisioningPort?: number;
  /** Platform listener port for the ingress (default 8885). */
  platformPort?: number;
  /** Optional plain listener in the same broker (default none: the dev broker stays apart). */
  plainPort?: number;
  /** Topic prefix for the ACLs (tests on a shared naming scheme); default none. */
  topicPrefix?: string;
  /** Persistence in `dir` (default false). */
  persistence?: boolean;
  /** Mosquitto `user` line; default `root` when running as root (dev machines), else none. */
  user?: string;
  /** Leave out the `user` line even as root (startPrivateMosquitto adds its own). */
  omitUser?: boolean;
}

/** Files written by {@link prepareSecureBroker}. */
export interface SecureBrokerFiles {
  /** Fleet chain (fleet CA, root). */
  caFile: string;
  /** Bootstrap CA. */
  bootstrapCaFile: string;
  /** Service CA (trust anchor of the platform listener). */
  serviceCaFile: string;
  /** Broker certificate + fleet chain. */
  certFile: string;
  /** Broker key (0600). */
  keyFile: string;
  /** Fleet CRL (rewritten by `writeCrl`). */
  crlFile: string;
  /** Fleet listener ACL. */
  aclFile: string;
  /** Provisioning listener ACL. */
  provisioningAclFile: string;
  /** Platform listener ACL. */
  platformAclFile: string;
  /** Ingress client certificate (CN drover-ingress, service CA). */
  ingressCertFile: string;
  /** Ingress client key (0600). */
  ingressKeyFile: string;
}

/** A prepared broker directory. */
export interface SecureBroker {
  /** The complete mosquitto.conf: run `mosquitto -c <configPath>`. */
  configPath: string;
  /** Its text (tests append it to a private broker's config). */
  config: string;
  /** Listener ports. */
  ports: { fleet: number; provisioning: number; platform: number; plain?: number };
  /** File paths. */
  files: SecureBrokerFiles;
  /** Secret shared-subscription group: give it to the ingress as MQTT_SHARE_GROUP. */
  shareGroup: string;
  /** The loaded CAs (to issue device and bootstrap certificates). */
  pki: FleetPki;
  /** Rewrites the fleet CRL; the broker enforces it after a restart (see docs/security.md). */
  writeCrl(
    revoked: RevokedEntry[],
    opts?: { crlNumber?: number; nextUpdate?: Date },
  ): Promise<void>;
}

/** Concatenates PEM blocks, each ending in a newline (OpenSSL rejects `-----END...-----BEGIN`). */
function pemBundle(...pems: string[]): string {
  return pems.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');
}

async function writeSecret(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
}

/** Loads or creates the PKI in `store` and writes certificates, CRL, ACLs and mosquitto.conf. */
export async function prepareSecureBroker(opts: PrepareSecureBrokerOptions): Promise<SecureBroker> {
  const dir = path.resolve(opts.dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pki = await loadOrCreatePki(opts.store);
  let shareGroup = await opts.store.get(SHARE_GROUP_SECRET);
  if (shareGroup === undefined) {
    shareGroup = randomShareGroup();
    await opts.store.put(SHARE_GROUP_SECRET, shareGroup);
  }
  const f = (name: string): string => path.join(dir, name);
  const files: SecureBrokerFiles = {
    caFile: f('fleet-chain.pem'),
    bootstrapCaFile: f('bootstrap-ca.pem'),
    serviceCaFile: f('service-ca.pem'),
    certFile: f('server.crt'),
    keyFile: f('server.key'),
    crlFile: f('fleet.crl'),
    aclFile: f('fleet.acl'),
    provisioningAclFile: f('provisioning.acl'),
    platformAclFile: f('platform.acl'),
    ingressCertFile: f('ingress.crt'),
    ingressKeyFile: f('ingress.key'),
  };
  const server = await issueServerCertificate(pki.fleet);
  const ingress = await issueClientCertificate(pki.service, {
    commonName: INGRESS_IDENTITY,
    profile: 'service',
  });
  await writeFile(files.caFile, pemBundle(...pki.fleet.chainPems));
  await writeFile(files.bootstrapCaFile, pemBundle(pki.bootstrap.certificatePem));
  await writeFile(files.certFile, pemBundle(server.certificatePem, pki.fleet.certificatePem));
  await writeSecret(files.keyFile, pemBundle(server.privateKeyPem));
  await writeFile(files.serviceCaFile, pemBundle(pki.service.certificatePem));
  await writeFile(files.ingressCertFile, pemBundle(ingress.certificatePem));
  await writeSecret(files.ingressKeyFile, pemBundle(ingress.privateKeyPem));
  const acl = { topicPrefix: opts.topicPrefix };
  await writeFile(files.aclFile, renderAclFile(acl));
  await writeFile(files.provisioningAclFile, renderProvisioningAclFile(acl));
  await writeFile(files.platformAclFile, renderPlatformAclFile(acl));

  let crlNumber = Math.floor(Date.now() / 1000);
  const writeCrl: SecureBroker['writeCrl'] = async (revoked, o = {}) => {
    crlNumber = o.crlNumber ?? crlNumber + 1;
    const thisUpdate = new Date();
    const nextUpdate = o.nextUpdate ?? new Date(thisUpdate.getTime() + 7 * DAY_MS);
    const pem = await createCrl(pki.fleet, revoked, { thisUpdate, nextUpdate, crlNumber });
    // Replace atomically so the broker never reads a half-written CRL.
    const tmp = `${files.crlFile}.tmp`;
    await writeFile(tmp, pemBundle(pem));
    await rename(tmp, files.crlFile);
  };
  await writeCrl([], { crlNumber });

  const ports = {
    fleet: opts.fleetPort ?? 8883,
    provisioning: opts.provisioningPort ?? 8884,
    platform: opts.platformPort ?? 8885,
    ...(opts.plainPort !== undefined ? { plain: opts.plainPort } : {}),
  };
  const user = opts.omitUser
    ? undefined
    : (opts.user ?? (process.getuid?.() === 0 ? 'root' : undefined));
  const config = renderMosquittoConfig({
    dir,
    fleetPort: ports.fleet,
    provisioningPort: ports.provisioning,
    platformPort: ports.platform,
    plainPort: ports.plain,
    ...files,
    persistence: opts.persistence ?? false,
    user,
  });
  const configPath = f('mosquitto.conf');
  await writeFile(configPath, config);
  return { configPath, config, ports, files, shareGroup, pki, writeCrl };
}
