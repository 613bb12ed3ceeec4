// The one place domain code builds DomainErrors, so the use cases speak in codes only.
import { ConflictError, NotFoundError, ValidationError } from '@drover/service-kit';

/** 400 `validation_failed` with a human-readable detail. */
export function invalid(detail: string): Error {
  return new ValidationError('validation_failed', detail);
}

/** 409 with a specific code (`device_exists`, `version_conflict`, ...). */
export function conflict(code: string, detail: string): Error {
  return new ConflictError(code, detail);
}

/** 404 with a specific code (`device_not_found`, `group_not_found`). */
export function notFound(code: string, detail: string): Error {
  return new NotFoundError(code, detail);
}
