// Composition root: config from the environment, the gateway, the ops server, and the
// shutdown order (stop intake → drain → flush the outbox → close).
import { runStagedService } from '@drover/service-kit';
import { startCommandGateway } from './app';
import { loadGatewayConfig } from './config';
import { SERVICE_NAME } from './service/gateway.context';

void runStagedService(SERVICE_NAME, loadGatewayConfig, startCommandGateway);
