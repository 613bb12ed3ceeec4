// @drover/provisioning: the service, for in-process use by other services' tests.
export { startProvisioning } from './app';
export type { ProvisioningAppConfig, ProvisioningDeps, ProvisioningService } from './app';
export type {
  CloudProvider,
  CloudProviderKind,
  CloudIdentity,
  CloudEndpoints,
} from './adapters/cloud/cloud-provider';
export { createCloudProvider } from './adapters/cloud/cloud-provider.factory';
