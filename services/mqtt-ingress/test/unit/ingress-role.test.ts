import { handedOffKinds, type MemberAnswer, roleKinds } from '../../src/domain/ingress-role';

const up = (member: string, role: MemberAnswer['role'], stopping = false): MemberAnswer => ({
  member,
  role,
  stopping,
});
const kinds = (s: Set<string>) => [...s].sort();

describe('ingress roles', () => {
  it('an `all` replica handles both kinds, the others their own', () => {
    expect(roleKinds('all')).toEqual(['commands', 'devices']);
    expect(roleKinds('commands')).toEqual(['commands']);
    expect(roleKinds('devices')).toEqual(['devices']);
  });

  it('hands over only what another replica that is up and not stopping handles', () => {
    const self = { member: 'a', role: 'all' as const };
    expect(kinds(handedOffKinds(self, []))).toEqual([]);
    // Itself (its own subscription answers too) and stopping replicas do not count.
    expect(kinds(handedOffKinds(self, [up('a', 'all'), up('b', 'all', true)]))).toEqual([]);
    expect(kinds(handedOffKinds(self, [up('b', 'devices')]))).toEqual(['devices']);
    expect(kinds(handedOffKinds(self, [up('b', 'devices'), up('c', 'commands')]))).toEqual([
      'commands',
      'devices',
    ]);
    expect(kinds(handedOffKinds(self, [up('b', 'all')]))).toEqual(['commands', 'devices']);
  });

  it('a role never hands over traffic it does not handle', () => {
    const self = { member: 'a', role: 'commands' as const };
    expect(kinds(handedOffKinds(self, [up('b', 'devices')]))).toEqual([]);
    expect(kinds(handedOffKinds(self, [up('b', 'all')]))).toEqual(['commands']);
  });
});
