// The OpenAPI document (generated from the route schemas) and its UI at /docs.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { type FastifyInstance } from 'fastify';
import { ErrorResponse } from './schemas';

/** Version of the document; the API itself is versioned by its /api/v1 prefix. */
export const API_VERSION = '1.0.0';

/**
 * Registers @fastify/swagger (+ UI at /docs, JSON at /docs/openapi.json) directly on the root,
 * before the routes: it collects routes with an onRoute hook, which sees only its own context.
 */
export function registerOpenApi(app: FastifyInstance): void {
  app.addSchema(ErrorResponse);
  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Drover API',
        version: API_VERSION,
        description:
          'REST API of the Drover IoT fleet platform. Every /api/v1 route needs a bearer JWT ' +
          'with `sub`, `tenant` and `scope` claims; errors are `{error_code, detail, correlation_id}`.',
      },
      servers: [{ url: 'http://127.0.0.1:8080', description: 'development' }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        },
      },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'devices', description: 'device registry' },
        { name: 'state', description: 'desired and reported device state' },
        { name: 'groups', description: 'static and dynamic device groups' },
        { name: 'events', description: 'domain events as Server-Sent Events' },
        { name: 'telemetry', description: 'stored and latest device telemetry' },
        { name: 'commands', description: 'commands to devices and groups, acked and timed' },
        { name: 'provisioning', description: 'enrollments, provisioning and device certificates' },
        { name: 'firmware', description: 'signed firmware images' },
        { name: 'deployments', description: 'staged firmware rollouts and rehearsals' },
      ],
    },
    // Named components instead of `def-0`: the error schema shows up as ErrorResponse.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });
  void app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/docs/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
