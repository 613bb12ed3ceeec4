import { type FilterableDevice, matchesFilter, validateGroup } from '../../src/domain/group.rules';

const newId = () => 'g-new';

describe('validateGroup', () => {
  it('builds a static group with sorted unique members and a generated id', () => {
    expect(validateGroup({ name: ' Lab ', deviceIds: ['b', 'a', 'b'] }, newId)).toEqual({
      groupId: 'g-new',
      name: 'Lab',
      description: null,
      kind: 'static',
      deviceIds: ['a', 'b'],
    });
  });

  it('builds a dynamic group and normalizes its filter', () => {
    expect(
      validateGroup(
        {
          groupId: 'g1',
          name: 'n',
          description: 'd',
          filter: { device_type: 'sensor', tags_all: ['b', 'a'], attributes: { floor: 2 } },
        },
        newId,
      ),
    ).toEqual({
      groupId: 'g1',
      name: 'n',
      description: 'd',
      kind: 'dynamic',
      filter: { device_type: 'sensor', tags_all: ['a', 'b'], attributes: { floor: 2 } },
    });
  });

  it('keeps a filter without tags or attributes as given', () => {
    const def = validateGroup({ name: 'n', filter: { connectivity: 'online' } }, newId);
    expect(def).toMatchObject({ kind: 'dynamic', filter: { connectivity: 'online' } });
  });

  it.each([
    ['bad group id', { groupId: 'a.b', name: 'n', deviceIds: [] }, /group_id/],
    ['blank name', { name: '  ', deviceIds: [] }, /name/],
    ['both kinds', { name: 'n', deviceIds: [], filter: { device_type: 't' } }, /not both/],
    ['neither kind', { name: 'n' }, /device_ids or filter/],
    ['empty filter', { name: 'n', filter: {} }, /at least one criterion/],
    ['unknown filter key', { name: 'n', filter: { colour: 'red' } as never }, /unknown filter/],
    ['bad filter type', { name: 'n', filter: { device_type: 'a b' } }, /device_type/],
    ['bad member id', { name: 'n', deviceIds: ['ok', 'a/b'] }, /invalid device id/],
    ['bad filter tag', { name: 'n', filter: { tags_all: ['a b'] } }, /tag/],
  ])('rejects %s', (_name, input, detail) => {
    expect(() => validateGroup(input, newId)).toThrow(detail);
  });
});

describe('matchesFilter', () => {
  const device: FilterableDevice = {
    deviceType: 'sensor',
    hardwareModel: 'm1',
    firmwareVersion: '1.0.0',
    connectivity: 'online',
    tags: ['a', 'b'],
    attributes: { floor: 2, site: 'x', ok: true },
    status: 'active',
  };
  it.each([
    ['device_type match', { device_type: 'sensor' }, true],
    ['device_type mismatch', { device_type: 'gw' }, false],
    ['hardware_model', { hardware_model: 'm1' }, true],
    ['hardware_model mismatch', { hardware_model: 'm2' }, false],
    ['firmware', { firmware_version: '1.0.0' }, true],
    ['firmware mismatch', { firmware_version: '2.0.0' }, false],
    ['connectivity', { connectivity: 'online' as const }, true],
    ['connectivity mismatch', { connectivity: 'offline' as const }, false],
    ['all tags present', { tags_all: ['a', 'b'] }, true],
    ['a tag missing', { tags_all: ['a', 'c'] }, false],
    ['attributes equal', { attributes: { floor: 2, ok: true } }, true],
    ['attribute type differs', { attributes: { floor: '2' } }, false],
    ['attribute missing', { attributes: { zone: 1 } }, false],
    [
      'AND of criteria',
      { device_type: 'sensor', tags_all: ['a'], connectivity: 'offline' as const },
      false,
    ],
  ])('%s', (_name, filter, expected) => {
    expect(matchesFilter(device, filter)).toBe(expected);
  });
  it('never matches a decommissioned device', () => {
    expect(matchesFilter({ ...device, status: 'decommissioned' }, { device_type: 'sensor' })).toBe(
      false,
    );
  });
});
