// The orchestrator's RPC endpoints (NATS services API, queue group = service name): the
// deployment operations of the rollout engine and the firmware operations of the registry,
// each part contributing a handler map (op name → endpoint with its contract schema).
import { type Bus, type RpcEndpoint, type RpcServer, serveRpc } from '@drover/bus';
import { isTransientDbError } from '@drover/db';
import { runWithContext } from '@drover/observability';
import { UnavailableError } from '@drover/service-kit';
import { SERVICE_NAME } from '../service/ota.context';

/** Operations by name, as a part of the service serves them. */
export type OtaHandlerMap = Record<string, RpcEndpoint>;

function wrap(endpoint: RpcEndpoint): RpcEndpoint {
  return {
    ...(endpoint.schema !== undefined && { schema: endpoint.schema }),
    handler: async (req, rpcCtx) => {
      const body = (req ?? {}) as { tenant?: string };
      try {
        return await runWithContext(
          { ...(typeof body.tenant === 'string' && { tenant: body.tenant }) },
          () => endpoint.handler(req, rpcCtx),
        );
      } catch (err) {
        // A database blip is the caller's retry, not a 500.
        if (isTransientDbError(err)) throw new UnavailableError('db_unavailable', String(err));
        throw err;
      }
    },
  };
}

/** Serves every operation of every map; an op name given twice is a programming error. */
export async function startOtaRpc(bus: Bus, maps: OtaHandlerMap[]): Promise<RpcServer> {
  const endpoints: OtaHandlerMap = {};
  for (const map of maps) {
    for (const [op, endpoint] of Object.entries(map)) {
      if (endpoints[op] !== undefined) throw new Error(`rpc op ${op} is served twice`);
      endpoints[op] = wrap(endpoint);
    }
  }
  return serveRpc(bus, { service: SERVICE_NAME, version: '0.1.0', endpoints });
}
