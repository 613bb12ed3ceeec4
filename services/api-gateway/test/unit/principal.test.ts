import { MAX_SUB_LENGTH, principalFromClaims } from '../../src/domain/principal';

describe('principalFromClaims', () => {
  it('reads sub, tenant and scopes', () => {
    const result = principalFromClaims({ sub: 'u1', tenant: 'acme', scope: 'devices:read admin' });
    expect(result).toEqual({
      ok: true,
      principal: { sub: 'u1', tenant: 'acme', scopes: new Set(['devices:read', 'admin']) },
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no sub', { tenant: 'acme' }, 'sub'],
    ['empty sub', { sub: '', tenant: 'acme' }, 'sub'],
    ['numeric sub', { sub: 42, tenant: 'acme' }, 'sub'],
    ['sub too long', { sub: 'x'.repeat(257), tenant: 'acme' }, 'sub'],
    ['no tenant', { sub: 'u1' }, 'tenant'],
    ['tenant with a dot', { sub: 'u1', tenant: 'ac.me' }, 'tenant'],
    ['tenant wildcard', { sub: 'u1', tenant: '>' }, 'tenant'],
  ])('rejects %s', (_name, claims, mentions) => {
    const result = principalFromClaims(claims);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.detail).toContain(mentions);
  });

  it('a token without scope claim has no scopes', () => {
    const result = principalFromClaims({ sub: 'u1', tenant: 'acme' });
    expect(result.ok && result.principal.scopes.size).toBe(0);
  });
});

it('accepts a sub of exactly the maximum length', () => {
  expect(principalFromClaims({ sub: 's'.repeat(MAX_SUB_LENGTH), tenant: 't' }).ok).toBe(true);
});
