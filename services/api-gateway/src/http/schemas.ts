// HTTP schemas shared by the routers: the error body, path ids, list queries, and the request
// bodies derived from the registry's RPC contract (minus what the token or the path supplies).
import {
  CreateDeviceRequest,
  CreateGroupRequest,
  ID_PATTERN,
  ListDevicesRequest,
  PutDesiredStateRequest,
  UpdateDeviceRequest,
} from '@drover/contracts';
import { type TSchema, Type } from '@sinclair/typebox';
import { DEFAULT_LIMIT, MAX_CURSOR_LENGTH, MAX_LIMIT, MIN_LIMIT } from '../domain/pagination';

/** `$id` of the shared error schema (a component in the OpenAPI document). */
export const ERROR_SCHEMA_ID = 'ErrorResponse';

/** Every error answer: `{error_code, detail, correlation_id}`. */
export const ErrorResponse = Type.Object(
  {
    error_code: Type.String({ description: 'stable snake_case code, e.g. `device_not_found`' }),
    detail: Type.String({ description: 'human-readable explanation' }),
    correlation_id: Type.String({ description: 'the request correlation id (X-Correlation-Id)' }),
  },
  { $id: ERROR_SCHEMA_ID, additionalProperties: false, description: 'error' },
);

const ErrorRef = Type.Ref(ERROR_SCHEMA_ID);

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'bad request: validation failed or a bad id',
  401: 'missing or invalid bearer token',
  403: 'the token lacks the required scope',
  404: 'no such resource in the caller tenant',
  409: 'conflict (state, version, or an Idempotency-Key still in flight)',
  410: 'gone',
  422: 'Idempotency-Key reused with a different request',
  429: 'rate limited (see Retry-After)',
  503: 'a service is unavailable; retry later',
};

/** Error responses every authenticated route may give. */
const COMMON_ERRORS = [400, 401, 403, 429, 503];

/** The response map of a route: its success schemas plus the error answers. */
export function responses(
  success: Record<number, TSchema>,
  extraErrors: number[] = [],
): Record<number, TSchema> {
  const out: Record<number, TSchema> = { ...success };
  for (const status of [...COMMON_ERRORS, ...extraErrors].sort()) {
    out[status] = Type.Unsafe({ ...ErrorRef, description: ERROR_DESCRIPTIONS[status] });
  }
  return out;
}

/** A path `{id}` (device or group id). */
export const IdParams = Type.Object({
  id: Type.String({ pattern: ID_PATTERN.source, description: 'id ([A-Za-z0-9_-]{1,64})' }),
});

/** `?limit=&cursor=` of lists without filters. */
export const PageQuery = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({ minimum: MIN_LIMIT, maximum: MAX_LIMIT, default: DEFAULT_LIMIT }),
    ),
    cursor: Type.Optional(
      Type.String({ minLength: 1, maxLength: MAX_CURSOR_LENGTH, description: 'opaque cursor' }),
    ),
  },
  { additionalProperties: false },
);

/** `POST /devices` body. */
export const CreateDeviceBody = Type.Omit(CreateDeviceRequest, ['tenant'], {
  additionalProperties: false,
});

/** `GET /devices` query. */
export const ListDevicesQuery = Type.Omit(ListDevicesRequest, ['tenant'], {
  additionalProperties: false,
});

/** `PATCH /devices/{id}` body: at least one of `tags`, `attributes`. */
export const UpdateDeviceBody = Type.Omit(UpdateDeviceRequest, ['tenant', 'device_id'], {
  additionalProperties: false,
  minProperties: 1,
});

/** `DELETE /devices/{id}` query. */
export const DecommissionQuery = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 512 })) },
  { additionalProperties: false },
);

/** `PUT /devices/{id}/state` body. */
export const PutDesiredStateBody = Type.Omit(PutDesiredStateRequest, ['tenant', 'device_id'], {
  additionalProperties: false,
});

/** `POST /groups` body. */
export const CreateGroupBody = Type.Omit(CreateGroupRequest, ['tenant'], {
  additionalProperties: false,
});

/** `GET /events` answer: a `text/event-stream`, documented as such. */
export const EventStreamResponse = Type.Unsafe({
  description: 'Server-Sent Events; `: heartbeat` comments keep the stream alive',
  content: { 'text/event-stream': { schema: { type: 'string' } } },
});

/** Headers of mutations (documented; the idempotency hook checks the value). */
export const MutationHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      description:
        'makes the request safe to retry: the first answer is replayed for 24 h ' +
        '(1-255 printable ASCII characters)',
    }),
  ),
});

/** `GET /events` query. */
export const EventsQuery = Type.Object(
  {
    types: Type.Optional(
      Type.String({
        maxLength: 2048,
        description: 'comma-separated CloudEvent types, e.g. `drover.device.registered.v1`',
      }),
    ),
  },
  { additionalProperties: false },
);
