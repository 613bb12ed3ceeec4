// @drover/pki: Drover's own certificate authority on @peculiar/x509 (WebCrypto), secret
// stores for the CA keys, and the mTLS Mosquitto configuration generated from it.
export {
  createRootCa,
  createIntermediateCa,
  createBootstrapCa,
  issueServerCertificate,
  issueClientCertificate,
  signLeaf,
  CLOCK_SKEW_MS,
} from './ca';
export type {
  CertificateAuthority,
  IssuedCertificate,
  IssuedCertificateWithKey,
  CaOptions,
  LeafProfile,
  LeafParams,
  ServerCertificateOptions,
  ClientCertificateOptions,
} from './ca';
export {
  issueFromCsr,
  issueFromInspectedCsr,
  issueWithServerKey,
  checkCsrCommonName,
  inspectCsr,
  createCsr,
  assertDeviceCommonName,
  PkiError,
  RESERVED_COMMON_NAME,
  MAX_CSR_BYTES,
} from './issue';
export type { PkiErrorCode, CsrInfo, IssueFromCsrParams, IssueWithServerKeyParams } from './issue';
export { verifyCertificateChain } from './verify';
export type { ChainVerification } from './verify';
export { createCrl, crlSerials } from './crl';
export type { RevocationReason, RevokedEntry, CrlOptions } from './crl';
export {
  FileSecretStore,
  EnvSecretStore,
  MemorySecretStore,
  ReadOnlySecretStoreError,
  InsecureSecretError,
  SECRET_NAME,
} from './secret-store';
export type { SecretStore } from './secret-store';
export { VaultKvStore } from './vault-kv-store';
export type { VaultKvOptions } from './vault-kv-store';
export { loadOrCreatePki, PKI_SECRET_NAMES } from './pki-store';
export type { FleetPki, LoadOrCreatePkiOptions } from './pki-store';
export {
  generateKeyPair,
  exportPrivateKeyPem,
  importPrivateKeyPem,
  randomSerial,
  fingerprintSha256,
  normalizeSerial,
  x509,
} from './crypto';
export {
  renderMosquittoConfig,
  renderAclFile,
  renderProvisioningAclFile,
  renderPlatformAclFile,
  INGRESS_IDENTITY,
  randomShareGroup,
} from './mosquitto-config';
export type { MosquittoConfigOptions, AclOptions } from './mosquitto-config';
export { prepareSecureBroker } from './secure-broker';
export type { PrepareSecureBrokerOptions, SecureBroker, SecureBrokerFiles } from './secure-broker';
