// Which bus errors a consumer retries: nats.js's transient codes and the pipeline's.
import { ErrorCode, NatsError } from 'nats';
import { isRetryable, isTransientNatsError, PipelinedPublishError } from '../../src';

describe('isTransientNatsError', () => {
  it.each(['timeout', 'no_responders', 'closed'])('retries a pipelined %s', (code) => {
    expect(isTransientNatsError(new PipelinedPublishError('x', code))).toBe(true);
    expect(isRetryable(new PipelinedPublishError('x', code))).toBe(true);
  });

  it('does not retry a JetStream refusal or an unreadable ack', () => {
    expect(isTransientNatsError(new PipelinedPublishError('no', '10060'))).toBe(false);
    expect(isTransientNatsError(new PipelinedPublishError('bad', 'bad_ack'))).toBe(false);
  });

  it('keeps the nats.js codes', () => {
    expect(isTransientNatsError(NatsError.errorForCode(ErrorCode.Timeout))).toBe(true);
    expect(isTransientNatsError(NatsError.errorForCode(ErrorCode.BadJson))).toBe(false);
    expect(isTransientNatsError(new Error('timeout'))).toBe(false);
  });
});
