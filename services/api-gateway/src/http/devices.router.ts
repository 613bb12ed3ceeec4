// /api/v1/devices: register, list, read, update, decommission.
import { DEVICE_REGISTRY_SERVICE, Device, DeviceList, DeviceRegistryOps } from '@drover/contracts';
import { principalOf } from '../auth/auth.hook';
import { resolveCursor, resolveLimit } from '../domain/pagination';
import { deviceCacheKey } from '../domain/read-cache';
import { type ContextRouter } from './router.types';
import {
  CreateDeviceBody,
  DecommissionQuery,
  IdParams,
  ListDevicesQuery,
  MutationHeaders,
  responses,
  UpdateDeviceBody,
} from './schemas';

const tags = ['devices'];
const JSON_TYPE = 'application/json; charset=utf-8';
const read = { scope: 'devices:read' as const };
const write = { scope: 'devices:write' as const };

/** Device routes. */
export const devicesRouter: ContextRouter = {
  name: 'devices',
  services: [{ service: DEVICE_REGISTRY_SERVICE, probeOp: DeviceRegistryOps.getDevice }],
  plugin: async (app, { registry, deviceCache }) => {
    app.post(
      '/devices',
      {
        config: write,
        schema: {
          headers: MutationHeaders,
          tags,
          summary: 'Register a device by hand',
          body: CreateDeviceBody,
          response: responses({ 201: Device }, [409]),
        },
      },
      async (request, reply) => {
        const { tenant } = principalOf(request);
        const device = await registry.call(
          DeviceRegistryOps.createDevice,
          { ...request.body, tenant },
          request.id,
        );
        return reply
          .code(201)
          .header('location', `/api/v1/devices/${device.device_id}`)
          .send(device);
      },
    );

    app.get(
      '/devices',
      {
        config: read,
        schema: {
          tags,
          summary: 'List devices (filters combine with AND)',
          querystring: ListDevicesQuery,
          response: responses({ 200: DeviceList }),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        const { limit, cursor, ...filters } = request.query;
        return registry.call(
          DeviceRegistryOps.listDevices,
          { ...filters, tenant, limit: resolveLimit(limit), cursor: resolveCursor(cursor) },
          request.id,
        );
      },
    );

    app.get(
      '/devices/:id',
      {
        config: read,
        schema: {
          tags,
          summary: 'Get a device',
          params: IdParams,
          response: responses({ 200: Device }, [404]),
        },
      },
      async (request, reply) => {
        const { tenant } = principalOf(request);
        const body = await deviceCache.getOrLoad(
          deviceCacheKey(tenant, request.params.id),
          async () => {
            const device = await registry.call(
              DeviceRegistryOps.getDevice,
              { tenant, device_id: request.params.id },
              request.id,
            );
            // Serialized once with the route's schema; hits send the same bytes.
            return reply.serialize(device) as string;
          },
        );
        return reply.type(JSON_TYPE).send(body);
      },
    );

    app.patch(
      '/devices/:id',
      {
        config: write,
        schema: {
          headers: MutationHeaders,
          tags,
          summary: 'Update tags (replace) and attributes (JSON merge patch)',
          params: IdParams,
          body: UpdateDeviceBody,
          response: responses({ 200: Device }, [404, 409, 410, 422]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        // Before and after: no read may cache the old document across the change.
        deviceCache.invalidate(deviceCacheKey(tenant, request.params.id));
        const device = await registry.call(
          DeviceRegistryOps.updateDevice,
          { ...request.body, tenant, device_id: request.params.id },
          request.id,
        );
        deviceCache.invalidate(deviceCacheKey(tenant, request.params.id));
        return device;
      },
    );

    app.delete(
      '/devices/:id',
      {
        config: write,
        schema: {
          headers: MutationHeaders,
          tags,
          summary: 'Decommission a device (certificate revoked, commands refused, data kept)',
          params: IdParams,
          querystring: DecommissionQuery,
          response: responses({ 200: Device }, [404, 422]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        deviceCache.invalidate(deviceCacheKey(tenant, request.params.id));
        const device = await registry.call(
          DeviceRegistryOps.decommissionDevice,
          { tenant, device_id: request.params.id, reason: request.query.reason },
          request.id,
        );
        deviceCache.invalidate(deviceCacheKey(tenant, request.params.id));
        return device;
      },
    );
  },
};
