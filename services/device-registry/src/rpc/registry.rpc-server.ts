// The device-registry RPC endpoints (NATS services API, queue group = service name).
import {
  DEVICE_REGISTRY_SERVICE,
  DeviceRegistryOps as Ops,
  DeviceRegistryRpc,
} from '@drover/contracts';
import { type Bus, type RpcEndpoint, type RpcServer, serveRpc } from '@drover/bus';
import { isTransientDbError } from '@drover/db';
import { type Logger, runWithContext } from '@drover/observability';
import { DomainError, UnavailableError } from '@drover/service-kit';
import * as deviceService from '../service/device.service';
import { listDeviceTargets } from '../service/device-targets.service';
import * as groupService from '../service/group.service';
import * as stateService from '../service/state.service';
import { type RegistryContext } from '../service/registry.context';

type Handler = (ctx: RegistryContext, req: never) => Promise<unknown>;

const handlers: Record<keyof typeof DeviceRegistryRpc, Handler> = {
  [Ops.createDevice]: deviceService.createDevice,
  [Ops.getDevice]: deviceService.getDevice,
  [Ops.listDevices]: deviceService.listDevices,
  [Ops.updateDevice]: deviceService.updateDevice,
  [Ops.decommissionDevice]: deviceService.decommissionDevice,
  [Ops.getState]: stateService.getState,
  [Ops.putDesiredState]: stateService.putDesiredState,
  [Ops.createGroup]: groupService.createGroup,
  [Ops.listGroups]: groupService.listGroups,
  [Ops.getGroup]: groupService.getGroup,
  [Ops.listGroupDevices]: groupService.listGroupDevices,
  [Ops.getDeviceMeta]: deviceService.getDeviceMeta,
  [Ops.getDevicesMeta]: deviceService.getDevicesMeta,
  [Ops.listDeviceTargets]: listDeviceTargets,
};

/** Hooks around every call (metrics). */
export interface RpcObserver {
  /** Called with the op, the outcome code and the duration. */
  (op: string, outcome: string, seconds: number): void;
}

/** Serves every operation of /tmp/rpc.md with its request schema from @drover/contracts. */
export async function startRegistryRpc(
  bus: Bus,
  ctx: RegistryContext,
  logger: Logger,
  observe?: RpcObserver,
): Promise<RpcServer> {
  const endpoints: Record<string, RpcEndpoint> = {};
  for (const [op, handler] of Object.entries(handlers)) {
    const schema = DeviceRegistryRpc[op as keyof typeof DeviceRegistryRpc].request;
    endpoints[op] = {
      schema,
      handler: async (req: { tenant: string; device_id?: string }) => {
        const started = process.hrtime.bigint();
        let outcome = 'ok';
        try {
          return await runWithContext(
            { tenant: req.tenant, ...(req.device_id !== undefined && { deviceId: req.device_id }) },
            () => handler(ctx, req as never),
          );
        } catch (err) {
          outcome = (err as { code?: string }).code ?? 'error';
          if (err instanceof DomainError) throw err;
          // A database outage is the caller's cue to retry (503), not a bug (500).
          if (isTransientDbError(err)) {
            outcome = 'database_unavailable';
            logger.warn({ event: 'registry.db_unavailable', op, err: String(err) }, 'db down');
            throw new UnavailableError(
              'database_unavailable',
              'the registry database is unavailable',
              undefined,
              { cause: err },
            );
          }
          logger.error({ event: 'registry.rpc_failed', op, err }, 'rpc failed');
          throw err;
        } finally {
          observe?.(op, outcome, Number(process.hrtime.bigint() - started) / 1e9);
        }
      },
    };
  }
  return serveRpc(bus, { service: DEVICE_REGISTRY_SERVICE, version: '1.0.0', endpoints });
}
