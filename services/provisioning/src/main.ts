// Composition root: config from the environment, the service, the ops server, and the
// shutdown order (stop intake → drain → flush the outbox → close).
import { runStagedService } from '@drover/service-kit';
import { startProvisioning } from './app';
import { loadProvisioningConfig } from './config';
import { SERVICE_NAME } from './service/provisioning.context';

void runStagedService(SERVICE_NAME, loadProvisioningConfig, startProvisioning);
