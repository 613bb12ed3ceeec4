import { conflict, invalid, notFound, refused } from '../../src/domain/errors';

describe('domain errors', () => {
  it.each([
    [invalid, 400],
    [refused, 403],
    [notFound, 404],
    [conflict, 409],
  ])('%p has its status and code', (make, status) => {
    expect(make('some_code', 'why')).toMatchObject({ code: 'some_code', status, detail: 'why' });
  });
});
