import { toHttpError } from '@drover/service-kit';
import { UnprocessableError } from '../../src/domain/errors';

describe('UnprocessableError', () => {
  it.each<[string, UnprocessableError, string, string]>([
    ['defaults', new UnprocessableError(), 'unprocessable', 'request cannot be processed'],
    [
      'own code and detail',
      new UnprocessableError('idempotency_key_reused', 'key used for another request'),
      'idempotency_key_reused',
      'key used for another request',
    ],
  ])('%s map to 422', (_name, err, code, detail) => {
    expect(toHttpError(err, 'c1')).toEqual({
      status: 422,
      body: { error_code: code, detail, correlation_id: 'c1' },
    });
  });
});
