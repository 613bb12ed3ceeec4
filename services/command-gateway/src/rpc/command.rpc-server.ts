// The command-gateway RPC endpoints (NATS services API, queue group = service name).
import {
  type CancelCommandRequest,
  type CancelDeviceCommandsRequest,
  type CancelFanoutRequest,
  COMMAND_GATEWAY_SERVICE,
  CommandGatewayOps as Ops,
  CommandGatewayRpc,
  type CreateCommandRequest,
  type CreateCommandsRequest,
  type CreateGroupCommandsRequest,
  type GetCommandRequest,
  type GetFanoutRequest,
  type ListCommandsRequest,
} from '@drover/contracts';
import { type Bus, type RpcEndpoint, type RpcServer, serveRpc } from '@drover/bus';
import { isTransientDbError } from '@drover/db';
import { runWithContext } from '@drover/observability';
import { UnavailableError } from '@drover/service-kit';
import * as commands from '../service/command.service';
import { type GatewayContext } from '../service/gateway.context';

type Handler = (ctx: GatewayContext, req: never) => Promise<unknown>;

const handlers: Record<keyof typeof CommandGatewayRpc, Handler> = {
  [Ops.createCommand]: (ctx, req: CreateCommandRequest) => commands.createCommand(ctx, req),
  [Ops.getCommand]: (ctx, req: GetCommandRequest) =>
    commands.getCommand(ctx, req.tenant, req.command_id),
  [Ops.listCommands]: (ctx, req: ListCommandsRequest) => commands.listTenantCommands(ctx, req),
  [Ops.createGroupCommands]: (ctx, req: CreateGroupCommandsRequest) =>
    commands.createGroupCommands(ctx, req),
  [Ops.getFanout]: (ctx, req: GetFanoutRequest) =>
    commands.getFanout(ctx, req.tenant, req.fanout_id),
  [Ops.createCommands]: (ctx, req: CreateCommandsRequest) => commands.createCommands(ctx, req),
  [Ops.cancelCommand]: (ctx, req: CancelCommandRequest) => commands.cancelCommand(ctx, req),
  [Ops.cancelFanout]: (ctx, req: CancelFanoutRequest) => commands.cancelFanout(ctx, req),
  [Ops.cancelDeviceCommands]: (ctx, req: CancelDeviceCommandsRequest) =>
    commands.cancelDeviceCommands(ctx, req),
};

/** Serves every operation with its request schema from @drover/contracts. */
export async function startCommandRpc(bus: Bus, ctx: GatewayContext): Promise<RpcServer> {
  const endpoints: Record<string, RpcEndpoint> = {};
  for (const [op, handler] of Object.entries(handlers)) {
    endpoints[op] = {
      schema: CommandGatewayRpc[op as keyof typeof CommandGatewayRpc].request,
      handler: async (req: { tenant: string; device_id?: string }) => {
        try {
          return await runWithContext(
            { tenant: req.tenant, ...(req.device_id !== undefined && { deviceId: req.device_id }) },
            () => handler(ctx, req as never),
          );
        } catch (err) {
          // A database blip is the caller's retry, not a 500.
          if (isTransientDbError(err)) throw new UnavailableError('db_unavailable', String(err));
          throw err;
        }
      },
    };
  }
  return serveRpc(bus, { service: COMMAND_GATEWAY_SERVICE, version: '0.1.0', endpoints });
}
