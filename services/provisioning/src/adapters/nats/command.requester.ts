// Asks a device to rotate its certificate through the command model: the command-gateway's
// `create_command` (tracked, retried, visible at GET /api/v1/commands/{id}). Where no
// command-gateway answers (a deployment without it, or tests), the command message is published
// straight on the device's command subject, which the ingress delivers untracked.
import { type Bus, rpcRequest } from '@drover/bus';
import { COMMAND_GATEWAY_SERVICE, CommandGatewayOps } from '@drover/contracts';
import { type Logger } from '@drover/observability';
import { UnavailableError } from '@drover/service-kit';

/** The reserved command that starts the device's renewal flow (DEVICE-PROTOCOL). */
export const ROTATE_COMMAND = 'certificate.rotate';

/** Sends `certificate.rotate` to a device. */
export interface CommandRequester {
  /** Requests a rotation; `key` makes a repeated request the same command. Returns its id. */
  requestRotate(tenant: string, deviceId: string, key: string): Promise<string>;
}

/** Options of {@link createCommandRequester}. */
export interface CommandRequesterOptions {
  /** The bus. */
  bus: Bus;
  /** Command lifetime. */
  expiresInS: number;
  /** Direct publication when the gateway does not answer; returns the command id. */
  fallback(tenant: string, deviceId: string): Promise<string>;
  /** Logger. */
  logger: Logger;
}

/** The gateway-first requester. */
export function createCommandRequester(opts: CommandRequesterOptions): CommandRequester {
  return {
    async requestRotate(tenant, deviceId, key) {
      try {
        const command = await rpcRequest<{ command_id: string }>(
          opts.bus,
          COMMAND_GATEWAY_SERVICE,
          CommandGatewayOps.createCommand,
          {
            tenant,
            device_id: deviceId,
            name: ROTATE_COMMAND,
            params: {},
            expires_in_s: opts.expiresInS,
            idempotency_key: key,
          },
          { timeoutMs: 3000 },
        );
        return command.command_id;
      } catch (err) {
        if (!(err instanceof UnavailableError) || err.code !== 'service_unavailable') throw err;
        opts.logger.warn(
          { event: 'certificate.rotate_direct', device_id: deviceId },
          'command-gateway unavailable: publishing the rotate command directly',
        );
        return opts.fallback(tenant, deviceId);
      }
    },
  };
}
