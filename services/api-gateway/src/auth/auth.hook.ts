// Bearer authentication and scope checks for the /api routes.
import { ForbiddenError, UnauthorizedError } from '@drover/service-kit';
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { hasScope } from '../domain/scopes';
import { type Principal } from '../domain/principal';
import { type TokenVerifier } from './token-verifier';
import '../http/fastify-types';

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i;

/**
 * Adds an onRequest hook to `app` (an encapsulated /api scope): the token is verified before
 * the body is read, then the route's `config.scope` is checked.
 */
export function registerAuth(app: FastifyInstance, verifier: TokenVerifier): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    if (header === undefined) throw new UnauthorizedError('unauthorized', 'bearer token required');
    const match = BEARER.exec(header);
    if (!match) throw new UnauthorizedError('unauthorized', 'malformed Authorization header');
    const principal = await verifier.verify(match[1]!);
    request.principal = principal;
    const required = request.routeOptions.config.scope;
    if (required !== undefined && !hasScope(principal.scopes, required)) {
      throw new ForbiddenError('insufficient_scope', `scope ${required} required`, {
        scope: required,
      });
    }
  });
}

/** The caller of an authenticated route (the auth hook guarantees it). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new UnauthorizedError('unauthorized', 'bearer token required');
  return request.principal;
}
