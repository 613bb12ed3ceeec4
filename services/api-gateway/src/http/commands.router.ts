// /api/v1 commands: one command model from REST to the device and back (command-gateway).
// Idempotency-Key is replayed by the gateway's hook and also handed to the command gateway,
// so a command (or a group fan-out) is created and sent once for a key even if the replay
// store forgot it.
import { type Static, Type } from '@sinclair/typebox';
import { rpcRequest } from '@drover/bus';
import {
  CancelCommandRequest,
  CancelDeviceCommandsResponse,
  COMMAND_GATEWAY_SERVICE,
  Command,
  CommandGatewayOps,
  CommandList,
  type CreateCommandResponse,
  CreateCommandRequest,
  CreateGroupCommandsRequest,
  DeviceRegistryOps,
  Fanout,
  ListCommandsRequest,
} from '@drover/contracts';
import { createCommandWaiters } from '../adapters/nats/command-waiters';
import { principalOf } from '../auth/auth.hook';
import { resolveCursor, resolveLimit } from '../domain/pagination';
import { type ContextRouter } from './router.types';
import { IdParams, MutationHeaders, responses } from './schemas';

const tags = ['commands'];
const write = { scope: 'commands:write' as const };
// API.md has no commands:read scope: reading commands takes the scope that sends them.
const read = write;

/** `POST /devices/{id}/commands` body. */
export const CreateCommandBody = Type.Omit(
  CreateCommandRequest,
  ['tenant', 'device_id', 'idempotency_key'],
  { additionalProperties: false },
);
/** `POST /groups/{id}/commands` body. */
export const CreateGroupCommandsBody = Type.Omit(
  CreateGroupCommandsRequest,
  ['tenant', 'group_id', 'idempotency_key'],
  { additionalProperties: false },
);
/** 202 answer. */
export const CommandAccepted = Type.Object(
  { command_id: Type.String(), status: Type.String() },
  { additionalProperties: false },
);
const CommandIdParams = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) });
/** `POST /commands/{id}/cancel` and `POST /fanouts/{id}/cancel` body (optional). */
export const CancelBody = Type.Pick(CancelCommandRequest, ['reason'], {
  additionalProperties: false,
});
/** Longest long poll (below common proxies' 60 s idle time-out). */
export const MAX_WAIT_S = 30;
const waitQuery = (description: string) =>
  Type.Object(
    { wait_s: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_WAIT_S, description })) },
    { additionalProperties: false },
  );
/** `GET /commands/{id}` query. */
export const GetCommandQuery = waitQuery(
  'wait up to this long for the command to reach a final state (long poll)',
);
/** `GET /fanouts/{id}` query. */
export const GetFanoutQuery = waitQuery(
  'wait up to this long for every command of the fan-out to reach a final state (long poll)',
);
/** `GET /commands` query: filters combine with AND. */
export const ListCommandsQuery = Type.Omit(ListCommandsRequest, ['tenant'], {
  additionalProperties: false,
});
/** `GET /devices/{id}/commands` query. */
export const ListDeviceCommandsQuery = Type.Omit(ListCommandsRequest, ['tenant', 'device_id'], {
  additionalProperties: false,
});

/** Command routes. */
export const commandsRouter: ContextRouter = {
  name: 'commands',
  // Like telemetry: not a readiness dependency of the gateway (devices work without it).
  services: [],
  plugin: async (app, { bus, registry }) => {
    const call = <T>(op: string, body: Record<string, unknown>, correlationId: string) =>
      rpcRequest<T>(bus, COMMAND_GATEWAY_SERVICE, op, body, { correlationId });
    // The gateway knows commands, not devices: an unknown device is a 404, not an empty answer.
    const ownDevice = (tenant: string, deviceId: string, correlationId: string) =>
      registry.call(
        DeviceRegistryOps.getDeviceMeta,
        { tenant, device_id: deviceId },
        correlationId,
      );
    const waiters = createCommandWaiters(bus);
    // Before the server waits for requests in flight: long polls answer now, with a last read.
    app.addHook('preClose', async () => waiters.stop());
    // A page of commands, newest first; `filters` as the query gave them.
    const list = (
      tenant: string,
      { limit, cursor, ...filters }: Static<typeof ListCommandsQuery>,
      correlationId: string,
    ) =>
      call<CommandList>(
        CommandGatewayOps.listCommands,
        { ...filters, tenant, limit: resolveLimit(limit), cursor: resolveCursor(cursor) },
        correlationId,
      );

    app.post(
      '/devices/:id/commands',
      {
        config: write,
        schema: {
          headers: MutationHeaders,
          tags,
          summary: 'Send a command to a device (queued until it is online)',
          params: IdParams,
          body: CreateCommandBody,
          response: responses({ 202: CommandAccepted }, [404, 409]),
        },
      },
      async (request, reply) => {
        const { tenant } = principalOf(request);
        const key = request.headers['idempotency-key'];
        const r = await call<CreateCommandResponse>(
          CommandGatewayOps.createCommand,
          {
            ...request.body,
            tenant,
            device_id: request.params.id,
            ...(typeof key === 'string' && { idempotency_key: key }),
          },
          request.id,
        );
        return reply
          .code(202)
          .header('location', `/api/v1/commands/${r.command.command_id}`)
          .send({ command_id: r.command.command_id, status: r.command.status });
      },
    );

    app.post(
      '/groups/:id/commands',
      {
        config: write,
        schema: {
          headers: MutationHeaders,
          tags,
          summary: 'Send a command to every device of a group, rate limited (commands/s)',
          params: IdParams,
          body: CreateGroupCommandsBody,
          response: responses({ 202: Fanout }, [404, 409]),
        },
      },
      async (request, reply) => {
        const { tenant } = principalOf(request);
        // Handed on like the single command's: a retried fan-out finds the first one even
        // when the replay store has forgotten the key.
        const key = request.headers['idempotency-key'];
        const fanout = await call<Fanout>(
          CommandGatewayOps.createGroupCommands,
          {
            ...request.body,
            tenant,
            group_id: request.params.id,
            ...(typeof key === 'string' && { idempotency_key: key }),
          },
          request.id,
        );
        return reply
          .code(202)
          .header('location', `/api/v1/fanouts/${fanout.fanout_id}`)
          .send(fanout);
      },
    );

    app.get(
      '/fanouts/:id',
      {
        config: read,
        schema: {
          tags,
          summary:
            'A group fan-out: its commands counted by state, and whether all are final; with ' +
            'wait_s, once all are final or wait_s has passed',
          params: CommandIdParams,
          querystring: GetFanoutQuery,
          response: responses({ 200: Fanout }, [404]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        const fanoutId = request.params.id;
        const load = () =>
          call<Fanout>(CommandGatewayOps.getFanout, { tenant, fanout_id: fanoutId }, request.id);
        return waiters.waitFanoutDone(tenant, fanoutId, (request.query.wait_s ?? 0) * 1000, load);
      },
    );

    // Cancels take an optional body: no body means no reason.
    const emptyBody = async (request: { body: unknown }) => {
      request.body ??= {};
    };

    app.post(
      '/commands/:id/cancel',
      {
        config: write,
        schema: {
          headers: MutationHeaders,
          tags,
          summary: 'Withdraw a command not handed to the broker yet (cancelled; never sent)',
          params: CommandIdParams,
          body: CancelBody,
          response: responses({ 200: Command }, [404, 409]),
        },
        preValidation: emptyBody,
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return call<Command>(
          CommandGatewayOps.cancelCommand,
          { ...request.body, tenant, command_id: request.params.id },
          request.id,
        );
      },
    );

    app.post(
      '/fanouts/:id/cancel',
      {
        config: write,
        schema: {
          headers: MutationHeaders,
          tags,
          summary: "Withdraw a fan-out's commands not handed over yet; the others go on",
          params: CommandIdParams,
          body: CancelBody,
          response: responses({ 200: Fanout }, [404]),
        },
        preValidation: emptyBody,
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return call<Fanout>(
          CommandGatewayOps.cancelFanout,
          { ...request.body, tenant, fanout_id: request.params.id },
          request.id,
        );
      },
    );

    app.post(
      '/devices/:id/commands/cancel',
      {
        config: write,
        schema: {
          headers: MutationHeaders,
          tags,
          summary: "Withdraw a device's commands not handed over yet (those waiting for it)",
          params: IdParams,
          body: CancelBody,
          response: responses({ 200: CancelDeviceCommandsResponse }, [404]),
        },
        preValidation: emptyBody,
      },
      async (request) => {
        const { tenant } = principalOf(request);
        const deviceId = request.params.id;
        await ownDevice(tenant, deviceId, request.id);
        return call<CancelDeviceCommandsResponse>(
          CommandGatewayOps.cancelDeviceCommands,
          { ...request.body, tenant, device_id: deviceId },
          request.id,
        );
      },
    );

    app.get(
      '/commands',
      {
        config: read,
        schema: {
          tags,
          summary: 'List commands, newest first (filters combine with AND)',
          querystring: ListCommandsQuery,
          response: responses({ 200: CommandList }),
        },
      },
      async (request) => list(principalOf(request).tenant, request.query, request.id),
    );

    app.get(
      '/devices/:id/commands',
      {
        config: read,
        schema: {
          tags,
          summary: "A device's commands, newest first (404 for an unknown device)",
          params: IdParams,
          querystring: ListDeviceCommandsQuery,
          response: responses({ 200: CommandList }, [404]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        const deviceId = request.params.id;
        await ownDevice(tenant, deviceId, request.id);
        return list(tenant, { ...request.query, device_id: deviceId }, request.id);
      },
    );

    app.get(
      '/commands/:id',
      {
        config: read,
        schema: {
          tags,
          summary: 'A command and its state; with wait_s, once it is final or wait_s has passed',
          params: CommandIdParams,
          querystring: GetCommandQuery,
          response: responses({ 200: Command }, [404]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        const commandId = request.params.id;
        const load = () =>
          call<Command>(
            CommandGatewayOps.getCommand,
            { tenant, command_id: commandId },
            request.id,
          );
        return waiters.waitFinal(tenant, commandId, (request.query.wait_s ?? 0) * 1000, load);
      },
    );
  },
};
