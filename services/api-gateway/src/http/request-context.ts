// Correlation ids: adopted from X-Correlation-Id when valid, else minted; echoed on every
// answer and carried (AsyncLocalStorage) into logs and outgoing RPC calls.
import { runWithContext } from '@drover/observability';
import { type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { type IncomingMessage } from 'node:http';
import { acceptCorrelationId } from '../domain/correlation-id';
import './fastify-types';

/** Response (and accepted request) header carrying the correlation id. */
export const CORRELATION_HEADER = 'x-correlation-id';

/** Fastify `genReqId`: the request id is the correlation id. */
export function correlationIdOf(req: IncomingMessage): string {
  // A UUID rather than a ULID: Node draws its randomness in batches, where the ULID library
  // asks the OS for every character (measurable on the hot path); ids need not sort.
  return acceptCorrelationId(req.headers[CORRELATION_HEADER]) ?? randomUUID();
}

/** Hooks that echo the id and enter the request's logging context. */
export function registerRequestContext(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(CORRELATION_HEADER, request.id);
    runWithContext({ correlationId: request.id }, done);
  });
  // Body parsing leaves the context (stream callbacks); enter it again, now with the tenant.
  app.addHook('preHandler', (request, _reply, done) => {
    runWithContext({ correlationId: request.id, tenant: request.principal?.tenant }, done);
  });
}
