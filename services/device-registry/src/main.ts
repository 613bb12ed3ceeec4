// Composition root: config from the environment, the registry, the ops server, and the
// shutdown order (stop intake → drain → flush the outbox → close). Streams are set up before
// services start (scripts/start.mjs, the deploy); services only look consumers up.
import { runStagedService } from '@drover/service-kit';
import { startDeviceRegistry } from './app';
import { loadRegistryConfig } from './config';
import { SERVICE_NAME } from './service/registry.context';

void runStagedService(SERVICE_NAME, loadRegistryConfig, startDeviceRegistry);
