// Authentication, scopes and the error shape (inject) against the real registry.
import { rpcSubject } from '@drover/contracts';
import { type CryptoKey, exportSPKI, generateKeyPair, importJWK, SignJWT } from 'jose';
import { type Stack, startStack } from '../support/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack('gw_auth');
});
afterAll(async () => {
  await stack.stop();
});

const claims = { sub: 'user-1', tenant: 'acme', scope: 'devices:read devices:write' };
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

async function get(url: string, headers: Record<string, string> = {}) {
  return stack.app.inject({ url, headers });
}

describe('401 unauthorized', () => {
  const cases: [string, () => Promise<string | undefined>][] = [
    ['no token', async () => undefined],
    ['not a bearer scheme', async () => 'Basic dXNlcjpwYXNz'],
    ['garbage token', async () => 'Bearer not-a-jwt'],
    [
      'alg none',
      async () => {
        const now = Math.floor(Date.now() / 1000);
        const payload = {
          ...claims,
          iss: stack.auth.issuer,
          aud: stack.auth.audience,
          exp: now + 600,
        };
        return `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
      },
    ],
    [
      'HS256 signed with the public key material',
      async () => {
        const key = await importJWK(stack.auth.publicJwk, 'ES256', { extractable: true });
        const pem = await exportSPKI(key as CryptoKey);
        const token = await new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', kid: stack.auth.publicJwk.kid })
          .setIssuer(stack.auth.issuer)
          .setAudience(stack.auth.audience)
          .setExpirationTime('1h')
          .sign(new TextEncoder().encode(pem));
        return `Bearer ${token}`;
      },
    ],
    [
      'signed by another key with the same kid',
      async () => {
        const { privateKey } = await generateKeyPair('ES256');
        const token = await new SignJWT(claims)
          .setProtectedHeader({ alg: 'ES256', kid: stack.auth.publicJwk.kid })
          .setIssuer(stack.auth.issuer)
          .setAudience(stack.auth.audience)
          .setExpirationTime('1h')
          .sign(privateKey);
        return `Bearer ${token}`;
      },
    ],
    [
      'expired',
      async () =>
        `Bearer ${await stack.auth.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 })}`,
    ],
    ['wrong aud', async () => `Bearer ${await stack.auth.sign(claims, { audience: 'other-api' })}`],
    ['wrong iss', async () => `Bearer ${await stack.auth.sign(claims, { issuer: 'evil' })}`],
    [
      'no tenant claim',
      async () => `Bearer ${await stack.auth.sign({ sub: 'u', scope: 'admin' })}`,
    ],
  ];

  it.each(cases)('%s', async (_name, header) => {
    const authorization = await header();
    const res = await get('/api/v1/devices', authorization ? { authorization } : {});
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(res.json()).toEqual({
      error_code: 'unauthorized',
      detail: expect.any(String),
      correlation_id: res.headers['x-correlation-id'],
    });
  });

  it('accepts a good token (the cases above fail for their reason only)', async () => {
    const res = await get('/api/v1/devices', await stack.bearer('devices:read'));
    expect(res.statusCode).toBe(200);
  });
});

describe('403 insufficient_scope', () => {
  it('a read-only token cannot register a device', async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers: await stack.bearer('devices:read'),
      payload: { device_type: 'sensor', hardware_id: 'hw-403' },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json().error_code).toBe('insufficient_scope');
    expect(res.headers['www-authenticate']).toContain('scope="devices:write"');
  });

  it('a token without devices:read cannot list', async () => {
    const res = await get('/api/v1/devices', await stack.bearer('firmware:read'));
    expect(res.statusCode).toBe(403);
  });

  it('admin implies every scope', async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers: await stack.bearer('admin'),
      payload: { device_id: 'adm-1', device_type: 'sensor', hardware_id: 'hw-adm-1' },
    });
    expect(res.statusCode).toBe(201);
  });
});

describe('400 with the error shape', () => {
  it.each<[string, string, string, unknown, string]>([
    [
      'missing required field',
      'POST',
      '/api/v1/devices',
      { hardware_id: 'h' },
      'validation_failed',
    ],
    [
      'unknown field',
      'POST',
      '/api/v1/devices',
      { device_type: 'sensor', hardware_id: 'h', colour: 'red' },
      'validation_failed',
    ],
    [
      'bad tag',
      'POST',
      '/api/v1/devices',
      { device_type: 'sensor', hardware_id: 'h', tags: ['has space'] },
      'validation_failed',
    ],
    ['empty patch', 'PATCH', '/api/v1/devices/adm-1', {}, 'validation_failed'],
    [
      'state not an object',
      'PUT',
      '/api/v1/devices/adm-1/state',
      { state: 3 },
      'validation_failed',
    ],
    ['bad id in the path', 'GET', `/api/v1/devices/${'x'.repeat(65)}`, undefined, 'invalid_id'],
    ['id with a dot', 'GET', '/api/v1/devices/a.b', undefined, 'invalid_id'],
    ['bad group id', 'GET', '/api/v1/groups/a%20b/devices', undefined, 'invalid_id'],
    ['limit out of range', 'GET', '/api/v1/devices?limit=501', undefined, 'validation_failed'],
    [
      'bad enum in query',
      'GET',
      '/api/v1/devices?connectivity=maybe',
      undefined,
      'validation_failed',
    ],
  ])('%s', async (_name, method, url, payload, code) => {
    const res = await stack.app.inject({
      method: method as 'GET',
      url,
      headers: await stack.bearer('admin'),
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error_code: code,
      detail: expect.any(String),
      correlation_id: res.headers['x-correlation-id'],
    });
  });

  it('malformed JSON is invalid_json', async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers: { ...(await stack.bearer('admin')), 'content-type': 'application/json' },
      payload: '{"device_type":',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error_code).toBe('invalid_json');
  });
});

describe('not found and correlation ids', () => {
  it('an unknown route is 404 route_not_found in the error shape', async () => {
    const res = await get('/api/v1/nothing-here', await stack.bearer('admin'));
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error_code: 'route_not_found' });
  });

  it('echoes a valid X-Correlation-Id and puts it in error bodies', async () => {
    const res = await get('/api/v1/devices/missing-1', {
      ...(await stack.bearer('devices:read')),
      'x-correlation-id': 'corr-abc-123',
    });
    expect(res.statusCode).toBe(404);
    expect(res.headers['x-correlation-id']).toBe('corr-abc-123');
    expect(res.json().correlation_id).toBe('corr-abc-123');
  });

  it('replaces an invalid X-Correlation-Id with a fresh one', async () => {
    const res = await get('/healthz', { 'x-correlation-id': 'has spaces in it' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-correlation-id']).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
  });

  it('carries the correlation id into the RPC request', async () => {
    // A plain (non-queue) subscriber sees a copy of every request on the subject.
    const subject = rpcSubject(stack.bus.naming, 'device-registry', 'get_device');
    const sub = stack.bus.nc.subscribe(subject, { max: 1 });
    const seen = (async () => {
      for await (const m of sub) return m.headers?.get('Drover-Correlation-Id');
      return undefined;
    })();
    await stack.bus.nc.flush();
    await get('/api/v1/devices/adm-1', {
      ...(await stack.bearer('devices:read')),
      'x-correlation-id': 'corr-rpc-1',
    });
    await expect(seen).resolves.toBe('corr-rpc-1');
  });
});
