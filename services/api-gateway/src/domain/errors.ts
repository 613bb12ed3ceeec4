// Errors the gateway raises itself; everything else comes from @drover/service-kit or, over RPC,
// from the services.
import { DomainError } from '@drover/service-kit';

/** 422: well-formed but cannot be processed (e.g. an Idempotency-Key reused for another request). */
export class UnprocessableError extends DomainError {
  readonly status = 422;
  constructor(code?: string, detail?: string) {
    super({ code: 'unprocessable', detail: 'request cannot be processed' }, code, detail);
  }
}
