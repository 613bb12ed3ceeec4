// The command gateway as a CommandSender: `create_commands` in batches of up to 500 (one
// statement in the gateway per batch), `create_command` for single sends and as the fallback
// when a gateway refuses the batch op as a whole (an older gateway, a bad batch).
import { rpcRequest, type Bus } from '@drover/bus';
import {
  COMMAND_GATEWAY_SERVICE,
  CommandGatewayOps,
  type CreateCommandResponse,
  type CreateCommandsResponse,
} from '@drover/contracts';
import { type CommandSender } from './rollout.context';

const RPC_TIMEOUT_MS = 30_000;

/** The gateway over RPC. */
export function gatewaySender(bus: Bus): CommandSender {
  return {
    async send(req) {
      const res = await rpcRequest<CreateCommandResponse>(
        bus,
        COMMAND_GATEWAY_SERVICE,
        CommandGatewayOps.createCommand,
        req,
        { timeoutMs: RPC_TIMEOUT_MS },
      );
      return res.command.command_id;
    },
    async sendMany(tenant, commands) {
      const res = await rpcRequest<CreateCommandsResponse>(
        bus,
        COMMAND_GATEWAY_SERVICE,
        CommandGatewayOps.createCommands,
        { tenant, commands },
        { timeoutMs: RPC_TIMEOUT_MS },
      );
      return res.results.map((r) =>
        r.command !== null ? { commandId: r.command.command_id } : { error: r.error! },
      );
    },
  };
}
