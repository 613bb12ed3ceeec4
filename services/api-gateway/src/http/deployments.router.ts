// /api/v1/firmware/deploy and /api/v1/deployments: staged rollouts of the ota-orchestrator over
// REST. Idempotency-Key is replayed by the gateway's hook and also handed to the orchestrator,
// so a deployment is created once for a key even if the replay store forgot it.
import { Type } from '@sinclair/typebox';
import { rpcRequest } from '@drover/bus';
import {
  CreateDeploymentRequest,
  DEPLOYMENT_SERVICE,
  Deployment,
  DeploymentControlRequest,
  DeploymentDeviceList,
  DeploymentList,
  DeploymentOps,
  ListDeploymentDevicesRequest,
  ListDeploymentsRequest,
  RehearsalOps,
  RehearsalReport,
  RehearseDeploymentRequest,
} from '@drover/contracts';
import { principalOf } from '../auth/auth.hook';
import { type ContextRouter } from './router.types';
import { MutationHeaders, responses } from './schemas';

const tags = ['deployments'];
const ID = '^[A-Za-z0-9_-]{1,64}$';
// Reading a rollout is reading firmware state; changing one needs deployments:write.
const read = { scope: 'firmware:read' as const };
const write = { scope: 'deployments:write' as const };

/** `POST /firmware/deploy` body. */
export const CreateDeploymentBody = Type.Omit(
  CreateDeploymentRequest,
  ['tenant', 'idempotency_key', 'created_by'],
  { additionalProperties: false },
);
/** `POST /firmware/rehearse` body: the deploy body plus `faults` and `seed`. */
export const RehearseDeploymentBody = Type.Omit(RehearseDeploymentRequest, ['tenant'], {
  additionalProperties: false,
});
/** 201 answer of `POST /firmware/deploy`. */
export const DeploymentCreated = Type.Object(
  {
    deployment_id: Deployment.properties.deployment_id,
    status: Deployment.properties.status,
    deployment: Deployment,
  },
  { additionalProperties: false },
);
/** `GET /deployments` query. */
export const ListDeploymentsQuery = Type.Omit(ListDeploymentsRequest, ['tenant'], {
  additionalProperties: false,
});
/** `GET /deployments/{id}/devices` query. */
export const ListDeploymentDevicesQuery = Type.Omit(
  ListDeploymentDevicesRequest,
  ['tenant', 'deployment_id'],
  { additionalProperties: false },
);
/** Body of the operator controls (optional). */
export const DeploymentControlBody = Type.Omit(
  DeploymentControlRequest,
  ['tenant', 'deployment_id'],
  { additionalProperties: false },
);
const DeploymentIdParams = Type.Object({
  id: Type.String({ pattern: ID, description: 'deployment id' }),
});

/** The operator controls: path suffix → RPC operation and summary. */
export const CONTROLS = [
  {
    action: 'pause',
    op: DeploymentOps.pauseDeployment,
    summary: 'Pause: no new stage and no new device is started; devices updating finish',
  },
  {
    action: 'resume',
    op: DeploymentOps.resumeDeployment,
    summary: 'Resume a paused deployment',
  },
  {
    action: 'abort',
    op: DeploymentOps.abortDeployment,
    summary: 'Abort: stop sending, leave devices on whatever they run',
  },
  {
    action: 'rollback',
    op: DeploymentOps.rollbackDeployment,
    summary: 'Roll back every device that received the update to its previous version',
  },
] as const;

/** Deployment routes. */
export const deploymentsRouter: ContextRouter = {
  name: 'deployments',
  services: [],
  plugin: async (app, { bus }) => {
    const call = <T>(op: string, body: Record<string, unknown>, correlationId: string) =>
      rpcRequest<T>(bus, DEPLOYMENT_SERVICE, op, body, { correlationId, timeoutMs: 30_000 });

    app.post(
      '/firmware/deploy',
      {
        config: write,
        schema: {
          headers: MutationHeaders,
          tags,
          summary: 'Start a staged rollout of a registered firmware version',
          description:
            'The target (`device_ids`, `group` or `filter`) is resolved to the eligible devices ' +
            '(compatible hardware model, older version unless `allow_downgrade`, not ' +
            'decommissioned) and the firmware is verified again before any device is told.',
          body: CreateDeploymentBody,
          response: responses({ 201: DeploymentCreated }, [404, 409]),
        },
      },
      async (request, reply) => {
        const { tenant, sub } = principalOf(request);
        const key = request.headers['idempotency-key'];
        const d = await call<Deployment>(
          DeploymentOps.createDeployment,
          {
            ...request.body,
            tenant,
            created_by: sub,
            ...(typeof key === 'string' && { idempotency_key: key }),
          },
          request.id,
        );
        return reply
          .code(201)
          .header('location', `/api/v1/deployments/${d.deployment_id}`)
          .send({ deployment_id: d.deployment_id, status: d.status, deployment: d });
      },
    );

    app.post(
      '/firmware/rehearse',
      {
        config: write,
        schema: {
          tags,
          summary: 'Rehearse a rollout (dry run): simulate it with injected faults, touch nothing',
          description:
            'Same body as `POST /firmware/deploy` plus `faults` and `seed`. The target is ' +
            'resolved and the firmware checked exactly as a deploy would, then the rollout ' +
            'config is played against virtual copies of the eligible devices (same size and ' +
            'hardware mix) with the given fault rates. Answers the outcome (completed, or ' +
            'rolled_back with reason and stage) and the blast radius; writes no deployment and ' +
            'sends no command. Deterministic for a seed.',
          body: RehearseDeploymentBody,
          response: responses({ 200: RehearsalReport }, [404]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return call<RehearsalReport>(
          RehearsalOps.rehearseDeployment,
          { ...request.body, tenant },
          request.id,
        );
      },
    );

    app.get(
      '/deployments',
      {
        config: read,
        schema: {
          tags,
          summary: 'Deployments, newest first',
          querystring: ListDeploymentsQuery,
          response: responses({ 200: DeploymentList }),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return call<DeploymentList>(
          DeploymentOps.listDeployments,
          { ...request.query, tenant },
          request.id,
        );
      },
    );

    app.get(
      '/deployments/:id',
      {
        config: read,
        schema: {
          tags,
          summary: 'A deployment: status, stages with their counts, error and offline rate',
          params: DeploymentIdParams,
          response: responses({ 200: Deployment }, [404]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return call<Deployment>(
          DeploymentOps.getDeployment,
          { tenant, deployment_id: request.params.id },
          request.id,
        );
      },
    );

    app.get(
      '/deployments/:id/devices',
      {
        config: read,
        schema: {
          tags,
          summary: 'Per-device update state of a deployment, in stage order',
          params: DeploymentIdParams,
          querystring: ListDeploymentDevicesQuery,
          response: responses({ 200: DeploymentDeviceList }, [404]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return call<DeploymentDeviceList>(
          DeploymentOps.listDeploymentDevices,
          { ...request.query, tenant, deployment_id: request.params.id },
          request.id,
        );
      },
    );

    for (const { action, op, summary } of CONTROLS) {
      app.post(
        `/deployments/:id/${action}`,
        {
          config: write,
          schema: {
            headers: MutationHeaders,
            tags,
            summary,
            params: DeploymentIdParams,
            // Optional: a bodiless POST is the common case; JSON may add an operator note.
            body: { content: { 'application/json': { schema: DeploymentControlBody } } },
            response: responses({ 200: Deployment }, [404, 409]),
          },
        },
        async (request) => {
          const { tenant } = principalOf(request);
          return call<Deployment>(
            op,
            { ...(request.body as object | undefined), tenant, deployment_id: request.params.id },
            request.id,
          );
        },
      );
    }
  },
};
