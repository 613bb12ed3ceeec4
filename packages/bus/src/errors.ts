// Which errors are worth a retry: transient NATS (nats.js or pipeline), database and domain ones.
import { ErrorCode, NatsError } from 'nats';
import { isTransient } from '@drover/service-kit';
import { isTransientDbError } from '@drover/db';
import { PipelinedPublishError } from './js-pipeline';

const TRANSIENT_NATS_CODES = new Set<string>([
  ErrorCode.Timeout,
  ErrorCode.NoResponders,
  ErrorCode.Disconnect,
  ErrorCode.ConnectionClosed,
  ErrorCode.ConnectionRefused,
  ErrorCode.ConnectionTimeout,
  ErrorCode.JetStream408RequestTimeout,
  ErrorCode.JetStream409,
]);

// A pipelined publish that got no ack, found no stream, or lost its connection.
const TRANSIENT_PIPELINE_CODES = new Set<string>(['timeout', 'no_responders', 'closed']);

/**
 * True for NATS errors that a later retry can fix (timeouts, no responders, disconnects),
 * whether from nats.js or from the JetStream pipeline.
 */
export function isTransientNatsError(err: unknown): boolean {
  if (err instanceof PipelinedPublishError) return TRANSIENT_PIPELINE_CODES.has(err.code);
  return err instanceof NatsError && TRANSIENT_NATS_CODES.has(err.code);
}

/** Whether a failed delivery should be retried (nak) rather than dead-lettered. */
export function isRetryable(err: unknown): boolean {
  return isTransient(err) || isTransientDbError(err) || isTransientNatsError(err);
}
