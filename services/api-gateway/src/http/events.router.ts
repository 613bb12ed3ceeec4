// GET /api/v1/events: the tenant's domain events as Server-Sent Events. Each SSE message has
// `id` = stream sequence (resume with Last-Event-ID), `event` = CloudEvent type, `data` = the
// CloudEvent. Heartbeat comments keep proxies from closing an idle stream.
import { ValidationError } from '@drover/service-kit';
import { type FastifyReply } from 'fastify';
import { type TenantEventSubscription } from '../adapters/nats/tenant-events';
import { principalOf } from '../auth/auth.hook';
import { matchesTypes, parseTypesFilter, resumeAfter } from '../domain/event-filter';
import { type ContextRouter } from './router.types';
import { EventStreamResponse, EventsQuery, responses } from './schemas';

/** Event stream route. */
export const eventsRouter: ContextRouter = {
  name: 'events',
  services: [],
  plugin: async (app, { events }) => {
    // Open streams, so shutdown can end them (a server does not close with clients attached).
    const open = new Set<FastifyReply>();
    app.addHook('preClose', async () => {
      for (const reply of open) reply.sse.close();
    });

    app.get(
      '/events',
      {
        sse: 'only',
        config: { scope: 'devices:read' },
        schema: {
          tags: ['events'],
          summary: 'Server-Sent Events of the tenant domain events',
          description:
            'Each message: `id` = stream sequence (send it back as Last-Event-ID to resume), ' +
            '`event` = CloudEvent type, `data` = the CloudEvent JSON.',
          querystring: EventsQuery,
          response: responses({ 200: EventStreamResponse }),
        },
      },
      async (request, reply) => {
        const { tenant } = principalOf(request);
        const filter = parseTypesFilter(request.query.types);
        if (!filter.ok) throw new ValidationError('validation_failed', filter.detail);
        const subscription = await events(tenant, {
          afterSeq: resumeAfter(reply.sse.lastEventId),
        });
        open.add(reply);
        reply.sse.keepAlive();
        reply.sse.onClose(() => {
          open.delete(reply);
          subscription.close().catch((err: unknown) => {
            request.log.warn({ event: 'events.close_failed', err }, 'closing subscription failed');
          });
        });
        // Headers now, so the client knows the subscription is live before any event.
        reply.sse.sendHeaders();
        void pump(subscription, reply, tenant, filter.types).catch((err: unknown) => {
          request.log.error({ event: 'events.stream_failed', err }, 'event stream failed');
          reply.sse.close();
        });
      },
    );
  },
};

async function pump(
  subscription: TenantEventSubscription,
  reply: FastifyReply,
  tenant: string,
  types: ReadonlySet<string> | null,
): Promise<void> {
  for await (const { seq, event } of subscription) {
    if (!reply.sse.isConnected) break;
    // The subject already scopes to the tenant; the envelope check is defence in depth.
    if (event.tenant !== tenant || !matchesTypes(types, event.type)) continue;
    await reply.sse.send({ id: String(seq), event: String(event.type), data: event });
  }
}
