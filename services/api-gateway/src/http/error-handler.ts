// Every error leaves the gateway as `{error_code, detail, correlation_id}`.
import { runWithContext } from '@drover/observability';
import { DomainError, NotFoundError, toHttpError, ValidationError } from '@drover/service-kit';
import {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';

/** Installs the error and not-found handlers on the root instance. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    const { status, body } = toHttpError(normalize(err), request.id);
    runWithContext({ correlationId: request.id }, () => {
      if (status >= 500) {
        request.log.error(
          { event: 'http.request_failed', err, route: request.routeOptions.url, status },
          'request failed',
        );
      }
    });
    setAuthenticateHeader(reply, request, status, err);
    return reply.code(status).type('application/json; charset=utf-8').send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    const err = new NotFoundError('route_not_found', `no route ${request.method} ${request.url}`);
    const { status, body } = toHttpError(err, request.id);
    return reply.code(status).send(body);
  });
}

/** Framework errors the generic mapping would describe too vaguely get a DomainError here. */
function normalize(err: FastifyError | Error): unknown {
  if (err instanceof DomainError) return err;
  const fe = err as FastifyError;
  if (fe.validation) {
    // A bad path id is its own code: clients can tell "wrong id format" from "bad body".
    const code = fe.validationContext === 'params' ? 'invalid_id' : 'validation_failed';
    return new ValidationError(code, fe.message);
  }
  if (fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new ValidationError('invalid_json', fe.message);
  }
  return err;
}

function setAuthenticateHeader(
  reply: FastifyReply,
  request: FastifyRequest,
  status: number,
  err: unknown,
): void {
  if (status === 401) {
    // RFC 6750: no error attribute when the client sent no credentials at all.
    const value = request.headers.authorization
      ? 'Bearer realm="drover", error="invalid_token"'
      : 'Bearer realm="drover"';
    reply.header('www-authenticate', value);
  } else if (status === 403 && err instanceof DomainError && err.code === 'insufficient_scope') {
    const scope = typeof err.details?.scope === 'string' ? err.details.scope : '';
    reply.header(
      'www-authenticate',
      `Bearer realm="drover", error="insufficient_scope", scope="${scope}"`,
    );
  }
}
