// Composition root: config from the environment, the orchestrator, the ops server, and the
// shutdown order (stop intake → drain → flush the outbox → close).
import { runStagedService } from '@drover/service-kit';
import { startOtaOrchestrator } from './app';
import { loadOtaConfig } from './config';
import { SERVICE_NAME } from './service/ota.context';

void runStagedService(SERVICE_NAME, loadOtaConfig, startOtaOrchestrator);
