// Our own CA and broker: identities are the certificates themselves (the broker maps CN to the
// username), revocation is the CRL the service writes, so every call but endpoints is a no-op.
import { type CloudEndpoints, type CloudProvider } from './cloud-provider';

/** The local provider: endpoints from configuration. */
export function createLocalProvider(endpoints: CloudEndpoints): CloudProvider {
  return {
    kind: 'local',
    issuesCertificates: false,
    createIdentity: () => Promise.resolve(),
    issueCertificate: () => Promise.reject(new Error('local: the fleet CA issues certificates')),
    registerCertificate: (_identity, cert) => Promise.resolve(cert.fingerprintSha256),
    revoke: () => Promise.resolve(),
    delete: () => Promise.resolve(),
    endpoints: () => Promise.resolve({ ...endpoints }),
  };
}
