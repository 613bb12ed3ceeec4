import { ErrorCode, NatsError } from 'nats';
import { isTransient } from '@drover/service-kit';
import { isTransientDbError } from '@drover/db';

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

/** True for NATS errors that a later retry can fix (timeouts, no responders, disconnects). */
export function isTransientNatsError(err: unknown): boolean {
  return err instanceof NatsError && TRANSIENT_NATS_CODES.has(err.code);
}

/** Whether a failed delivery should be retried (nak) rather than dead-lettered. */
export function isRetryable(err: unknown): boolean {
  return isTransient(err) || isTransientDbError(err) || isTransientNatsError(err);
}
