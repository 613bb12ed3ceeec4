import { context as otelContext } from '@opentelemetry/api';
import { type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ErrorCode, NatsError, type ServiceMsg } from 'nats';
import { rpcSubject } from '@drover/contracts';
import { extractTraceContext, newCorrelationId, runWithContext } from '@drover/observability';
import {
  deserializeError,
  serializeError,
  UnavailableError,
  ValidationError,
} from '@drover/service-kit';
import { type Bus } from './connect';
import { encodePayload, HEADERS, headersToObject, outgoingHeaders } from './headers';
import { qualifySubject } from './publish';

/** What an RPC handler gets besides the request body. */
export interface RpcContext {
  /** Correlation id of the caller (or a new one). */
  correlationId: string;
  /** Request headers. */
  headers: Record<string, string>;
  /** The subject the request arrived on. */
  subject: string;
}

/** One RPC operation. */
export interface RpcEndpoint<Req = unknown, Res = unknown> {
  /** TypeBox schema the request must satisfy; invalid requests get 400 validation_failed. */
  schema?: TSchema;
  /** Produces the response; a thrown DomainError reaches the caller as that error. */
  handler(req: Req, ctx: RpcContext): Promise<Res> | Res;
}

/** Options of {@link serveRpc}. */
export interface ServeRpcOptions {
  /** Service name (also the queue group). */
  service: string;
  /** Semantic version reported by the NATS services API. */
  version: string;
  /** Operations by name; subject `iot.rpc.<service>.<op>`. */
  endpoints: Record<string, RpcEndpoint>;
}

/** A running RPC service. */
export interface RpcServer {
  /** Stops answering (pending replies are still sent). */
  stop(): Promise<void>;
}

/** Wire format of a reply. */
type RpcReply = { result: unknown } | { error: ReturnType<typeof serializeError> };

function firstIssue(check: TypeCheck<TSchema>, body: unknown): { path: string; detail: string } {
  const first = check.Errors(body).First();
  const path = first?.path || '/';
  return { path, detail: `${path}: ${first?.message ?? 'invalid request'}` };
}

function decodeBody(data: Uint8Array): unknown {
  if (data.byteLength === 0) return undefined;
  return JSON.parse(new TextDecoder().decode(data));
}

/**
 * Serves request/reply endpoints on the NATS services API, in a queue group named after the
 * service so replicas share the load. Handlers run in the caller's trace and correlation.
 */
export async function serveRpc(bus: Bus, opts: ServeRpcOptions): Promise<RpcServer> {
  const srv = await bus.nc.services.add({
    name: opts.service,
    version: opts.version,
    queue: opts.service,
  });
  for (const [op, endpoint] of Object.entries(opts.endpoints)) {
    const check = endpoint.schema ? TypeCompiler.Compile(endpoint.schema) : null;
    const subject = qualifySubject(bus, rpcSubject(bus.naming, opts.service, op));
    srv.addEndpoint(op, {
      subject,
      queue: opts.service,
      handler: (err, msg) => {
        if (err) {
          bus.logger.error({ event: 'bus.rpc_endpoint_error', op, err: err.message }, 'rpc');
          return;
        }
        void answer(bus, msg, endpoint, check, op);
      },
    });
  }
  return {
    stop: async () => {
      await srv.stop();
    },
  };
}

async function answer(
  bus: Bus,
  msg: ServiceMsg,
  endpoint: RpcEndpoint,
  check: TypeCheck<TSchema> | null,
  op: string,
): Promise<void> {
  const headers = headersToObject(msg.headers);
  const correlationId = headers[HEADERS.correlationId] || newCorrelationId();
  const ctx: RpcContext = { correlationId, headers, subject: msg.subject };
  const traceCtx = extractTraceContext((k) => headers[k]);
  const reply = await otelContext.with(traceCtx, () =>
    runWithContext({ correlationId }, async (): Promise<RpcReply> => {
      try {
        let body: unknown;
        try {
          body = decodeBody(msg.data);
        } catch (err) {
          throw new ValidationError('validation_failed', 'request body is not JSON', undefined, {
            cause: err,
          });
        }
        if (check && !check.Check(body)) {
          const issue = firstIssue(check, body);
          throw new ValidationError('validation_failed', issue.detail, { path: issue.path });
        }
        return { result: await endpoint.handler(body, ctx) };
      } catch (err) {
        const error = serializeError(err);
        if (error.status >= 500) {
          bus.logger.error({ event: 'bus.rpc_failed', op, err: String(err) }, 'rpc handler failed');
        }
        return { error };
      }
    }),
  );
  const data = encodePayload(reply);
  if ('error' in reply) msg.respondError(reply.error.status, reply.error.error_code, data);
  else msg.respond(data);
}

/** Options of {@link rpcRequest}. */
export interface RpcRequestOptions {
  /** How long to wait for the reply. */
  timeoutMs?: number;
  /** Correlation id to send; defaults to the current context's. */
  correlationId?: string;
}

/**
 * Calls `service.op` and returns its result; rethrows the service's DomainError. A timeout or
 * no responders becomes `UnavailableError('service_unavailable')`.
 */
export async function rpcRequest<T>(
  bus: Bus,
  service: string,
  op: string,
  body: unknown,
  opts: RpcRequestOptions = {},
): Promise<T> {
  const subject = qualifySubject(bus, rpcSubject(bus.naming, service, op));
  const extra = opts.correlationId ? { [HEADERS.correlationId]: opts.correlationId } : undefined;
  let reply;
  try {
    reply = await bus.nc.request(subject, encodePayload(body ?? null), {
      timeout: opts.timeoutMs ?? 5000,
      headers: outgoingHeaders(extra),
    });
  } catch (err) {
    if (
      err instanceof NatsError &&
      [ErrorCode.Timeout, ErrorCode.NoResponders].includes(err.code as ErrorCode)
    ) {
      throw new UnavailableError(
        'service_unavailable',
        `${service}.${op}: ${err.code === ErrorCode.Timeout ? 'timed out' : 'no responders'}`,
      );
    }
    throw err;
  }
  const parsed = decodeBody(reply.data) as RpcReply | undefined;
  if (parsed && 'error' in parsed) throw deserializeError(parsed.error);
  if (parsed && 'result' in parsed) return parsed.result as T;
  throw new UnavailableError('service_unavailable', `${service}.${op}: malformed reply`);
}
