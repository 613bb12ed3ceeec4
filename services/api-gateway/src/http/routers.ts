// The /api/v1 routers, one per bounded context. A new context (provisioning, firmware,
// commands, telemetry) is one more entry here, with its own service client in RouterDeps.
import { commandsRouter } from './commands.router';
import { deploymentsRouter } from './deployments.router';
import { devicesRouter } from './devices.router';
import { eventsRouter } from './events.router';
import { firmwareRouter } from './firmware.router';
import { groupsRouter } from './groups.router';
import { provisioningRouter } from './provisioning.router';
import { type ContextRouter } from './router.types';
import { stateRouter } from './state.router';
import { telemetryRouter } from './telemetry.routes';

/** The routers served under /api/v1. */
export const apiRouters: ContextRouter[] = [
  devicesRouter,
  stateRouter,
  groupsRouter,
  eventsRouter,
  telemetryRouter,
  commandsRouter,
  provisioningRouter,
  firmwareRouter,
  deploymentsRouter,
];
