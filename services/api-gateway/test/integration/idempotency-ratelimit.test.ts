// Idempotency-Key replay/reuse/in-flight and the Redis-backed rate limit.
import { createIdempotencyStore } from '../../src/adapters/redis/idempotency.store';
import { requestFingerprint } from '../../src/domain/idempotency';
import { type Stack, startStack } from '../support/stack';

let stack: Stack;
let rw: { authorization: string };

beforeAll(async () => {
  stack = await startStack('gw_idem');
  rw = await stack.bearer('devices:read devices:write');
});
afterAll(async () => {
  await stack.stop();
});

const body = { device_id: 'idem-1', device_type: 'sensor', hardware_id: 'hw-idem-1' };

describe('Idempotency-Key', () => {
  it('a repeat returns the first answer, marked as replayed', async () => {
    const headers = { ...rw, 'idempotency-key': 'key-create-1' };
    const first = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers,
      payload: body,
    });
    expect(first.statusCode).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();

    // Same body, keys in another order: the same request.
    const again = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers,
      payload: { hardware_id: 'hw-idem-1', device_type: 'sensor', device_id: 'idem-1' },
    });
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(first.body);

    // Without the key the registry answers for itself: the device exists.
    const plain = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers: rw,
      payload: body,
    });
    expect(plain.statusCode).toBe(409);
  });

  it('replays an error answer too (the first answer is the answer)', async () => {
    const headers = { ...rw, 'idempotency-key': 'key-patch-missing' };
    const req = {
      method: 'PATCH' as const,
      url: '/api/v1/devices/never-1',
      headers,
      payload: { tags: ['x'] },
    };
    const first = await stack.app.inject(req);
    expect(first.statusCode).toBe(404);
    const again = await stack.app.inject(req);
    expect(again.statusCode).toBe(404);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json().correlation_id).toBe(first.json().correlation_id);
  });

  it('the same key with a different request is 422 idempotency_key_reused', async () => {
    const headers = { ...rw, 'idempotency-key': 'key-create-1' };
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers,
      payload: { ...body, hardware_id: 'hw-other' },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json().error_code).toBe('idempotency_key_reused');
  });

  it('keys are per tenant', async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers: {
        ...(await stack.bearer('devices:write', 'globex')),
        'idempotency-key': 'key-create-1',
      },
      payload: body,
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().tenant).toBe('globex');
  });

  it('a repeat while the first is in flight is 409 idempotency_in_progress', async () => {
    // Take the key exactly as a concurrent first request would, then send the duplicate.
    const store = createIdempotencyStore(stack.redis, stack.bus.naming);
    const payload = { state: { fan: 'on' } };
    const url = '/api/v1/devices/idem-1/state';
    const begun = await store.begin(
      'acme',
      'key-inflight',
      requestFingerprint('PUT', url, payload),
    );
    expect(begun.started).toBe(true);
    const res = await stack.app.inject({
      method: 'PUT',
      url,
      headers: { ...rw, 'idempotency-key': 'key-inflight' },
      payload,
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().error_code).toBe('idempotency_in_progress');
  });

  it('concurrent duplicates: one runs, the other is replayed or told it is in flight', async () => {
    const req = {
      method: 'POST' as const,
      url: '/api/v1/groups',
      headers: { ...rw, 'idempotency-key': 'key-concurrent' },
      payload: { group_id: 'conc-1', name: 'Concurrent', device_ids: ['idem-1'] },
    };
    const answers = await Promise.all([stack.app.inject(req), stack.app.inject(req)]);
    const statuses = answers.map((a) => a.statusCode).sort();
    expect(statuses[0]).toBe(201);
    expect([201, 409]).toContain(statuses[1]);
  });

  it('rejects a malformed key', async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers: { ...rw, 'idempotency-key': 'has space' },
      payload: body,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error_code).toBe('invalid_idempotency_key');
  });
});

describe('rate limit', () => {
  it('answers 429 in the error shape with Retry-After once the budget is spent', async () => {
    const limited = await stack.extraGateway({
      RATE_LIMIT_MAX: '3',
      RATE_LIMIT_WINDOW_MS: '60000',
    });
    const headers = await stack.bearer('devices:read', 'acme', 'rate-user');
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 4; i++) {
      last = await limited.inject({ url: '/api/v1/devices?limit=1', headers });
      statuses.push(last.statusCode);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(last!.json()).toEqual({
      error_code: 'rate_limited',
      detail: expect.any(String),
      correlation_id: last!.headers['x-correlation-id'],
    });

    // Another caller of the same tenant has a budget of its own.
    const other = await limited.inject({
      url: '/api/v1/devices?limit=1',
      headers: await stack.bearer('devices:read', 'acme', 'another-user'),
    });
    expect(other.statusCode).toBe(200);
  });
});
