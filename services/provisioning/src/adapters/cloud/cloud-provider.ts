// The one interface to where device identities live: our own broker (`local`), AWS IoT Core or
// Azure IoT Hub. The provisioning use cases call it around their own PKI and database work.

/** Which provider (`CLOUD_PROVIDER`). */
export type CloudProviderKind = 'local' | 'aws' | 'azure';

/** The device a call is about. */
export interface CloudIdentity {
  /** Tenant (an attribute in the cloud: device ids are globally unique). */
  tenant: string;
  /** Device id: AWS thing name, Azure device id, certificate CN. */
  deviceId: string;
  /** Device type. */
  deviceType: string;
}

/** A certificate the cloud signed from a CSR (AWS). */
export interface CloudIssuedCertificate {
  /** The certificate (PEM). */
  certificatePem: string;
  /** The cloud's handle for it (AWS certificate ARN). */
  cloudCertificateId: string;
}

/** A certificate our CA signed, as the cloud needs to know it. */
export interface CertificateToRegister {
  /** The certificate (PEM). */
  certificatePem: string;
  /** SHA-256 fingerprint, hex (Azure thumbprint). */
  fingerprintSha256: string;
}

/** Public endpoints handed to devices. */
export interface CloudEndpoints {
  /** MQTT broker URL. */
  mqtt: string;
  /** REST API URL. */
  api: string;
}

/** Create identity, issue or register a certificate, revoke, delete, endpoints. */
export interface CloudProvider {
  /** Which provider this is. */
  readonly kind: CloudProviderKind;
  /** True when the cloud signs device certificates from CSRs (AWS); otherwise our CA signs. */
  readonly issuesCertificates: boolean;
  /** Creates the device identity; idempotent (an existing identity is fine). */
  createIdentity(identity: CloudIdentity): Promise<void>;
  /** Has the cloud sign a CSR and binds the certificate to the identity (issuing clouds only). */
  issueCertificate(identity: CloudIdentity, csrPem: string): Promise<CloudIssuedCertificate>;
  /**
   * Makes a certificate of our CA usable for the identity; `previous` stays usable too (the
   * renewal overlap). Returns the cloud's handle for the certificate.
   */
  registerCertificate(
    identity: CloudIdentity,
    cert: CertificateToRegister,
    previous?: CertificateToRegister,
  ): Promise<string>;
  /** Stops a certificate working: `permanent` for revocation, otherwise deactivation. */
  revoke(identity: CloudIdentity, cloudCertificateId: string, permanent: boolean): Promise<void>;
  /** Deletes the identity (after detaching the given certificates); a missing one is fine. */
  delete(identity: CloudIdentity, cloudCertificateIds: readonly string[]): Promise<void>;
  /** The endpoints devices connect to. */
  endpoints(): Promise<CloudEndpoints>;
}
