// /api/v1/groups: static (device_ids) and dynamic (filter) groups and their devices.
import {
  DEVICE_REGISTRY_SERVICE,
  DeviceList,
  DeviceRegistryOps,
  Group,
  GroupList,
} from '@drover/contracts';
import { principalOf } from '../auth/auth.hook';
import { resolveCursor, resolveLimit } from '../domain/pagination';
import { type ContextRouter } from './router.types';
import { CreateGroupBody, IdParams, MutationHeaders, PageQuery, responses } from './schemas';

const tags = ['groups'];
const read = { scope: 'devices:read' as const };

/** Group routes. */
export const groupsRouter: ContextRouter = {
  name: 'groups',
  services: [{ service: DEVICE_REGISTRY_SERVICE, probeOp: DeviceRegistryOps.getGroup }],
  plugin: async (app, { registry }) => {
    app.post(
      '/groups',
      {
        config: { scope: 'devices:write' },
        schema: {
          headers: MutationHeaders,
          tags,
          summary: 'Create a static (device_ids) or dynamic (filter) group',
          body: CreateGroupBody,
          response: responses({ 201: Group }, [409, 422]),
        },
      },
      async (request, reply) => {
        const { tenant } = principalOf(request);
        const group = await registry.call(
          DeviceRegistryOps.createGroup,
          { ...request.body, tenant },
          request.id,
        );
        return reply.code(201).header('location', `/api/v1/groups/${group.group_id}`).send(group);
      },
    );

    app.get(
      '/groups',
      {
        config: read,
        schema: {
          tags,
          summary: 'List groups',
          querystring: PageQuery,
          response: responses({ 200: GroupList }),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return registry.call(
          DeviceRegistryOps.listGroups,
          {
            tenant,
            limit: resolveLimit(request.query.limit),
            cursor: resolveCursor(request.query.cursor),
          },
          request.id,
        );
      },
    );

    app.get(
      '/groups/:id',
      {
        config: read,
        schema: {
          tags,
          summary: 'Get a group',
          params: IdParams,
          response: responses({ 200: Group }, [404]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return registry.call(
          DeviceRegistryOps.getGroup,
          { tenant, group_id: request.params.id },
          request.id,
        );
      },
    );

    app.get(
      '/groups/:id/devices',
      {
        config: read,
        schema: {
          tags,
          summary: 'Devices of a group (dynamic groups are evaluated now)',
          params: IdParams,
          querystring: PageQuery,
          response: responses({ 200: DeviceList }, [404]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return registry.call(
          DeviceRegistryOps.listGroupDevices,
          {
            tenant,
            group_id: request.params.id,
            limit: resolveLimit(request.query.limit),
            cursor: resolveCursor(request.query.cursor),
          },
          request.id,
        );
      },
    );
  },
};
