import { isTransientDbError } from '../src';
import pg from 'pg';

const cases: [string, unknown, boolean][] = [
  ['connection refused', Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }), true],
  ['connection reset', Object.assign(new Error('read'), { code: 'ECONNRESET' }), true],
  ['admin shutdown 57P01', { code: '57P01', message: 'terminating connection' }, true],
  ['crash shutdown 57P02', { code: '57P02' }, true],
  ['cannot connect now 57P03', { code: '57P03' }, true],
  ['too many connections 53300', { code: '53300' }, true],
  ['serialization failure 40001', { code: '40001' }, true],
  ['deadlock 40P01', { code: '40P01' }, true],
  ['connection exception 08006', { code: '08006' }, true],
  ['connection does not exist 08003', { code: '08003' }, true],
  ['dropped socket', new Error('Connection terminated unexpectedly'), true],
  ['pool wait timeout', new Error('timeout exceeded when trying to connect'), true],
  [
    'dual-stack refusal',
    new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]),
    true,
  ],
  ['wrapped', new Error('outer', { cause: { code: '40001' } }), true],
  ['unique violation 23505', { code: '23505' }, false],
  ['syntax error 42601', { code: '42601' }, false],
  ['undefined table 42P01', { code: '42P01' }, false],
  ['plain error', new Error('boom'), false],
  ['not an error', 'ECONNREFUSED', false],
  ['null', null, false],
];

describe('isTransientDbError', () => {
  it.each(cases)('%s → %s', (_name, err, expected) => {
    expect(isTransientDbError(err)).toBe(expected);
  });

  it('classifies a real refused connection as transient', async () => {
    // Port 1 is never a Postgres server: the connect fails with ECONNREFUSED.
    const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:1/x' });
    const err = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    expect(isTransientDbError(err)).toBe(true);
  });
});
