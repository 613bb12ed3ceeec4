// The provisioning RPC endpoints (NATS services API, queue group = service name).
import { ProvisioningOps as Ops, ProvisioningRpc, PROVISIONING_SERVICE } from '@drover/contracts';
import { type Bus, type RpcEndpoint, type RpcServer, serveRpc } from '@drover/bus';
import { isTransientDbError } from '@drover/db';
import { type Logger, runWithContext } from '@drover/observability';
import { DomainError, UnavailableError } from '@drover/service-kit';
import * as certificateService from '../service/certificate.service';
import * as enrollmentService from '../service/enrollment.service';
import { provision } from '../service/provisioning.service';
import { type ProvisioningContext } from '../service/provisioning.context';

type Handler = (ctx: ProvisioningContext, req: never) => Promise<unknown>;

const handlers: Record<keyof typeof ProvisioningRpc, Handler> = {
  [Ops.createEnrollment]: enrollmentService.createEnrollment,
  [Ops.listEnrollments]: enrollmentService.listEnrollments,
  [Ops.provision]: provision,
  [Ops.rotateCertificate]: certificateService.rotateCertificate,
  [Ops.revokeCertificate]: certificateService.revokeCertificate,
  [Ops.getCertificate]: certificateService.getCertificate,
  [Ops.listExpiring]: certificateService.listExpiringCertificates,
};

/** Serves every operation with its request schema from @drover/contracts. */
export async function startProvisioningRpc(
  bus: Bus,
  ctx: ProvisioningContext,
  logger: Logger,
  observe?: (op: string, outcome: string, seconds: number) => void,
): Promise<RpcServer> {
  const endpoints: Record<string, RpcEndpoint> = {};
  for (const [op, handler] of Object.entries(handlers)) {
    endpoints[op] = {
      schema: ProvisioningRpc[op as keyof typeof ProvisioningRpc].request,
      handler: async (req: { tenant?: string; device_id?: string }) => {
        const started = process.hrtime.bigint();
        let outcome = 'ok';
        try {
          return await runWithContext(
            {
              ...(req.tenant !== undefined && { tenant: req.tenant }),
              ...(req.device_id !== undefined && { deviceId: req.device_id }),
            },
            () => handler(ctx, req as never),
          );
        } catch (err) {
          outcome = (err as { code?: string }).code ?? 'error';
          if (err instanceof DomainError) throw err;
          // A database outage is the caller's cue to retry (503), not a bug (500).
          if (isTransientDbError(err)) {
            outcome = 'database_unavailable';
            throw new UnavailableError(
              'database_unavailable',
              'the database is unavailable',
              undefined,
              {
                cause: err,
              },
            );
          }
          logger.error({ event: 'provisioning.rpc_failed', op, err }, 'rpc failed');
          throw err;
        } finally {
          observe?.(op, outcome, Number(process.hrtime.bigint() - started) / 1e9);
        }
      },
    };
  }
  return serveRpc(bus, { service: PROVISIONING_SERVICE, version: '0.1.0', endpoints });
}
