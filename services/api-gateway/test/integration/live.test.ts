// Over a real socket: the SSE event stream, ops endpoints, the OpenAPI document.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { createLogger } from '@drover/observability';
import { testNamespace, waitFor, withTestBus } from '@drover/testing';
import { buildGateway } from '../../src/app';
import { buildOpenApiDocument } from '../../src/openapi-document';
import { type Stack, startStack } from '../support/stack';

let stack: Stack;
let base: string;

beforeAll(async () => {
  stack = await startStack('gw_live');
  base = await stack.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await stack.stop();
});

/** An SSE client on a raw socket that collects what arrives. */
function openEvents(query: string, authorization: string, at = () => base) {
  let buffer = '';
  let request: http.ClientRequest | undefined;
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    request = http.get(
      `${at()}/api/v1/events${query}`,
      { headers: { authorization, accept: 'text/event-stream' } },
      (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
        });
        // The server may end the stream only when we hang up; both are fine.
        res.on('error', () => undefined);
        resolve(res);
      },
    );
    request.on('error', reject);
  });
  return {
    response,
    text: () => buffer,
    events: () =>
      buffer
        .split('\n\n')
        .filter((block) => block.includes('data: '))
        .map((block) => {
          const field = (name: string) =>
            block
              .split('\n')
              .find((l) => l.startsWith(`${name}: `))
              ?.slice(name.length + 2);
          return {
            id: field('id'),
            event: field('event'),
            data: JSON.parse(field('data') ?? '{}'),
          };
        }),
    close: () => request?.destroy(),
  };
}

async function post(url: string, body: unknown, authorization: string) {
  return fetch(`${base}${url}`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('GET /api/v1/events (SSE)', () => {
  it('streams drover.device.registered.v1 after a device is created, with heartbeats', async () => {
    const { authorization } = await stack.bearer('devices:read devices:write');
    const sse = openEvents('?types=drover.device.registered.v1', authorization);
    const res = await sse.response;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/event-stream');
    expect(res.headers['x-correlation-id']).toEqual(expect.any(String));

    const created = await post(
      '/api/v1/devices',
      { device_id: 'sse-1', device_type: 'sensor', hardware_id: 'hw-sse-1' },
      authorization,
    );
    expect(created.status).toBe(201);
    // Another tenant's device must not show up on this stream.
    const other = await stack.bearer('devices:write', 'globex');
    await post(
      '/api/v1/devices',
      { device_id: 'sse-other', device_type: 'sensor', hardware_id: 'hw-sse-o' },
      other.authorization,
    );

    await waitFor(() => sse.events().some((e) => e.data.subject === 'sse-1'), {
      timeoutMs: 10_000,
    });
    const event = sse.events().find((e) => e.data.subject === 'sse-1')!;
    expect(event.event).toBe('drover.device.registered.v1');
    expect(Number(event.id)).toBeGreaterThan(0);
    expect(event.data).toMatchObject({ type: 'drover.device.registered.v1', tenant: 'acme' });
    expect(event.data.data).toMatchObject({ device_id: 'sse-1', device_type: 'sensor' });

    await waitFor(() => sse.text().includes(': heartbeat'), { timeoutMs: 5000 });
    expect(sse.events().every((e) => e.data.tenant === 'acme')).toBe(true);

    // Hanging up ends the subscription: its consumer disappears from the stream.
    const stream = stack.bus.naming.stream('EVENTS');
    // Ephemeral (ordered) consumers only: the registry keeps durable ones on EVENTS too.
    const consumers = async () =>
      (await stack.bus.jsm.consumers.list(stream).next()).filter((c) => !c.config.durable_name)
        .length;
    expect(await consumers()).toBeGreaterThan(0);
    sse.close();
    await waitFor(async () => (await consumers()) === 0, { timeoutMs: 10_000 });
  });

  it('filters by type: an updated event is not sent to a registered-only stream', async () => {
    const { authorization } = await stack.bearer('devices:read devices:write');
    const sse = openEvents('?types=drover.device.updated.v1', authorization);
    await sse.response;
    await post(
      '/api/v1/devices',
      { device_id: 'sse-2', device_type: 'sensor', hardware_id: 'hw-sse-2' },
      authorization,
    );
    await fetch(`${base}/api/v1/devices/sse-2`, {
      method: 'PATCH',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ tags: ['x'] }),
    });
    await waitFor(() => sse.events().some((e) => e.data.subject === 'sse-2'), {
      timeoutMs: 10_000,
    });
    expect(sse.events().map((e) => e.event)).toEqual(
      sse.events().map(() => 'drover.device.updated.v1'),
    );
    sse.close();
  });

  it('closing the gateway ends open streams instead of waiting for them', async () => {
    const other = await stack.extraGateway({});
    const url = await other.listen({ port: 0, host: '127.0.0.1' });
    const { authorization } = await stack.bearer('devices:read');
    const sse = openEvents('', authorization, () => url);
    const res = await sse.response;
    expect(res.statusCode).toBe(200);
    const ended = new Promise<void>((resolve) => res.on('close', () => resolve()));
    await other.close();
    await ended;
  });

  it('rejects a bad type filter with 400 before streaming', async () => {
    const { authorization } = await stack.bearer('devices:read');
    const res = await fetch(`${base}/api/v1/events?types=not-a-type`, {
      headers: { authorization, accept: 'text/event-stream' },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error_code: string }).error_code).toBe('validation_failed');
  });
});

describe('ops endpoints', () => {
  it('/healthz is 200', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
  });

  it('/readyz is 200 with every check passing, including the registry', async () => {
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: 'ready',
      checks: { nats: 'ok', redis: 'ok', 'device-registry': 'ok' },
    });
  });

  it('/readyz is 503 when no registry of our namespace answers', async () => {
    // The registry of the stack's namespace answers the services API ping too; it must not count.
    const ns = testNamespace('gw_lonely');
    const bus = await withTestBus(ns, { ensureStreams: false });
    const lonely = buildGateway(
      { ...stack.config, DROVER_NAMESPACE: ns },
      {
        bus,
        redis: stack.redis,
        logger: createLogger({ service: 'test', level: 'silent' }),
      },
    );
    try {
      const res = await lonely.inject({ url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({
        status: 'not_ready',
        checks: { nats: 'ok', redis: 'ok', 'device-registry': 'failing' },
      });
    } finally {
      await lonely.close();
      await bus.close();
    }
  });

  it('/metrics has the request duration histogram by route and status', async () => {
    const { authorization } = await stack.bearer('devices:read');
    await fetch(`${base}/api/v1/devices/missing-9`, { headers: { authorization } });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(
      /http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/devices\/:id"[^}]*status="404"/,
    );
  });
});

describe('OpenAPI', () => {
  it('serves the document with the bearer scheme and the error schema', async () => {
    const res = await fetch(`${base}/docs/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      components: {
        securitySchemes: { bearerAuth: unknown };
        schemas: Record<string, { required?: string[] }>;
      };
      paths: Record<string, unknown>;
    };
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ scheme: 'bearer' });
    expect(doc.components.schemas.ErrorResponse?.required).toEqual([
      'error_code',
      'detail',
      'correlation_id',
    ]);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/devices/{id}', '/api/v1/groups/{id}/devices']),
    );
    const ui = await fetch(`${base}/docs`, { redirect: 'follow' });
    expect(ui.status).toBe(200);
  });

  it('the committed docs/openapi.json is what the app produces', async () => {
    const committed = JSON.parse(
      await readFile(path.resolve(__dirname, '../../../../docs/openapi.json'), 'utf8'),
    );
    expect(committed).toEqual(await buildOpenApiDocument());
  });
});
