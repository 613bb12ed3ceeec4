// The deployment operations as a handler map for the orchestrator's RPC server.
import {
  type CreateDeploymentRequest,
  type DeploymentControlRequest,
  DeploymentOps as Ops,
  DeploymentRpc,
  type GetDeploymentRequest,
  type ListDeploymentDevicesRequest,
  type ListDeploymentsRequest,
} from '@drover/contracts';
import { type OtaHandlerMap } from '../rpc/ota.rpc-server';
import * as deployments from './deployment.service';
import { type RolloutContext } from './rollout.context';

/** create/get/list deployments, their devices, and operator control. */
export function deploymentEndpoints(ctx: RolloutContext): OtaHandlerMap {
  const control = (action: deployments.ControlAction) => (req: DeploymentControlRequest) =>
    deployments.controlDeployment(ctx, req.tenant, req.deployment_id, action, req.detail);
  const handlers: Record<keyof typeof DeploymentRpc, (req: never) => Promise<unknown>> = {
    [Ops.createDeployment]: (req: CreateDeploymentRequest) =>
      deployments.createDeployment(ctx, req),
    [Ops.getDeployment]: (req: GetDeploymentRequest) =>
      deployments.getDeployment(ctx, req.tenant, req.deployment_id),
    [Ops.listDeployments]: (req: ListDeploymentsRequest) => deployments.listDeployments(ctx, req),
    [Ops.listDeploymentDevices]: (req: ListDeploymentDevicesRequest) =>
      deployments.listDeploymentDevices(ctx, req),
    [Ops.pauseDeployment]: control('pause'),
    [Ops.resumeDeployment]: control('resume'),
    [Ops.abortDeployment]: control('abort'),
    [Ops.rollbackDeployment]: control('rollback'),
  };
  const out: OtaHandlerMap = {};
  for (const [op, handler] of Object.entries(handlers)) {
    out[op] = {
      schema: DeploymentRpc[op as keyof typeof DeploymentRpc].request,
      handler: (req) => handler(req as never),
    };
  }
  return out;
}
