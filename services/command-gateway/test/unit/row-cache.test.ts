import { type VersionedRow } from '../../src/adapters/postgres/command.repository';
import { RowCache } from '../../src/service/row-cache';

const row = (id: string, status = 'sent', version = '1') =>
  ({ command_id: id, status, row_version: version }) as VersionedRow;

describe('RowCache', () => {
  it('keeps the most recent rows up to its size, least recently used leave first', () => {
    const c = new RowCache(2);
    c.set(row('a'));
    c.set(row('b'));
    c.set(row('a', 'accepted', '2')); // a is the most recent now
    c.set(row('c'));
    expect(c.size).toBe(2);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toMatchObject({ status: 'accepted', row_version: '2' });
    expect(c.get('c')).toBeDefined();
  });

  it('drops a row that became final and forgets on request', () => {
    const c = new RowCache(10);
    c.set(row('a'));
    c.set(row('a', 'succeeded'));
    expect(c.get('a')).toBeUndefined();
    c.set(row('b'));
    c.delete('b');
    c.set(row('d'));
    c.clear();
    expect(c.size).toBe(0);
  });

  it('holds nothing with size 0', () => {
    const c = new RowCache(0);
    c.set(row('a'));
    expect(c.get('a')).toBeUndefined();
  });
});
