// Idempotency-Key on mutations: the first answer (status + body) is kept for 24 h and replayed
// to repeats; a repeat while the first is running gets 409, a different request with the same
// key 422.
import { ConflictError, ValidationError } from '@drover/service-kit';
import {
  type FastifyInstance,
  type onSendHookHandler,
  type preHandlerAsyncHookHandler,
} from 'fastify';
import { type IdempotencyStore } from '../adapters/redis/idempotency.store';
import { principalOf } from '../auth/auth.hook';
import {
  checkIdempotencyKey,
  decideRepeat,
  isIdempotentMethod,
  requestFingerprint,
  shouldStore,
} from '../domain/idempotency';
import { UnprocessableError } from '../domain/errors';
import './fastify-types';

/** Header that marks a replayed answer. */
export const REPLAYED_HEADER = 'idempotent-replayed';

/**
 * Adds the hooks to the mutation routes of `app` (the /api scope), so reads pay nothing for
 * them. preHandler runs after auth, rate limit and validation: rejected requests never take a
 * key.
 */
export function registerIdempotency(app: FastifyInstance, store: IdempotencyStore): void {
  app.decorateRequest('idempotency', null);

  const preHandler: preHandlerAsyncHookHandler = async (request, reply) => {
    const check = checkIdempotencyKey(request.headers['idempotency-key']);
    if (check.kind === 'absent') return;
    if (check.kind === 'invalid') {
      throw new ValidationError(
        'invalid_idempotency_key',
        'Idempotency-Key must be 1-255 printable ASCII characters, sent once',
      );
    }
    const { tenant } = principalOf(request);
    const fingerprint = requestFingerprint(request.method, request.url, request.body);
    const begun = await store.begin(tenant, check.key, fingerprint);
    if (begun.started) {
      request.idempotency = { key: check.key, fingerprint, tenant };
      return;
    }
    const decision = decideRepeat(begun.existing, fingerprint);
    if (decision.kind === 'in_progress') {
      throw new ConflictError(
        'idempotency_in_progress',
        'a request with this Idempotency-Key is still being processed',
      );
    }
    if (decision.kind === 'key_reused') {
      throw new UnprocessableError(
        'idempotency_key_reused',
        'this Idempotency-Key was used for a different request',
      );
    }
    const { response } = decision;
    return reply
      .code(response.status)
      .header(REPLAYED_HEADER, 'true')
      .type(response.contentType)
      .send(response.body);
  };

  const onSend: onSendHookHandler = async (request, reply, payload) => {
    const state = request.idempotency;
    if (!state) return payload;
    // Cleared first: onSend runs again if storing fails and the error handler answers.
    request.idempotency = null;
    try {
      if (shouldStore(reply.statusCode) && typeof payload === 'string') {
        const contentType = String(reply.getHeader('content-type') ?? 'application/json');
        await store.complete(state.tenant, state.key, state.fingerprint, {
          status: reply.statusCode,
          body: payload,
          contentType,
        });
      } else {
        await store.release(state.tenant, state.key);
      }
    } catch (err) {
      // The answer is still correct; only the replay window is lost (the lock expires).
      request.log.warn({ event: 'idempotency.store_failed', err }, 'idempotency store failed');
    }
    return payload;
  };

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.some((m) => isIdempotentMethod(m))) return;
    if (route.config?.idempotency === 'service') return;
    route.preHandler = [...toArray(route.preHandler), preHandler];
    route.onSend = [...toArray(route.onSend), onSend];
  });
}

function toArray<T>(hooks: T | T[] | undefined): T[] {
  if (hooks === undefined) return [];
  return Array.isArray(hooks) ? hooks : [hooks];
}
