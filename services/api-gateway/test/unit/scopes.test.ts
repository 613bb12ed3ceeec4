import { ADMIN_SCOPE, hasScope, parseScopes, type Scope, SCOPES } from '../../src/domain/scopes';

describe('parseScopes', () => {
  it.each<[string, unknown, string[]]>([
    ['space separated', 'devices:read devices:write', ['devices:read', 'devices:write']],
    ['extra whitespace', '  devices:read \t admin  ', ['devices:read', 'admin']],
    ['empty string', '', []],
    ['not a string', ['devices:read'], []],
    ['missing', undefined, []],
  ])('%s', (_name, claim, expected) => {
    expect([...parseScopes(claim)]).toEqual(expected);
  });
});

describe('hasScope', () => {
  it.each<[string, string, Scope, boolean]>([
    ['exact scope', 'devices:read', 'devices:read', true],
    ['other scope only', 'devices:read', 'devices:write', false],
    ['admin implies write', 'admin', 'devices:write', true],
    ['admin implies admin', 'admin', 'admin', true],
    ['no scopes', '', 'devices:read', false],
    ['case matters', 'DEVICES:READ', 'devices:read', false],
  ])('%s', (_name, claim, required, expected) => {
    expect(hasScope(parseScopes(claim), required)).toBe(expected);
  });

  it('knows every scope of API.md', () => {
    expect(SCOPES).toEqual(
      expect.arrayContaining(['devices:read', 'devices:write', 'firmware:write', 'admin']),
    );
  });
});

it('admin is the all-granting scope', () => {
  expect(ADMIN_SCOPE).toBe('admin');
  expect(SCOPES.every((s) => hasScope(new Set([ADMIN_SCOPE]), s))).toBe(true);
});
