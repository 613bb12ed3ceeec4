// /api/v1/devices/{id}/state: desired (versioned, PUT) and reported state, and their delta.
import { DEVICE_REGISTRY_SERVICE, DeviceRegistryOps, DeviceState } from '@drover/contracts';
import { principalOf } from '../auth/auth.hook';
import { type ContextRouter } from './router.types';
import { IdParams, MutationHeaders, PutDesiredStateBody, responses } from './schemas';

const tags = ['state'];

/** Device state routes. */
export const stateRouter: ContextRouter = {
  name: 'state',
  services: [{ service: DEVICE_REGISTRY_SERVICE, probeOp: DeviceRegistryOps.getState }],
  plugin: async (app, { registry }) => {
    app.get(
      '/devices/:id/state',
      {
        config: { scope: 'devices:read' },
        schema: {
          tags,
          summary: 'Desired and reported state, and the delta',
          params: IdParams,
          response: responses({ 200: DeviceState }, [404]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return registry.call(
          DeviceRegistryOps.getState,
          { tenant, device_id: request.params.id },
          request.id,
        );
      },
    );

    app.put(
      '/devices/:id/state',
      {
        config: { scope: 'devices:write' },
        schema: {
          headers: MutationHeaders,
          tags,
          summary: 'Replace the desired state (optimistic concurrency with expected_version)',
          params: IdParams,
          body: PutDesiredStateBody,
          response: responses({ 200: DeviceState }, [404, 409, 410, 422]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return registry.call(
          DeviceRegistryOps.putDesiredState,
          { ...request.body, tenant, device_id: request.params.id },
          request.id,
        );
      },
    );
  },
};
