// The one place domain code builds DomainErrors, so the use cases speak in codes only.
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '@drover/service-kit';

/** 400 with a specific code (`bad_csr`, `validation_failed`, ...). */
export function invalid(code: string, detail: string): Error {
  return new ValidationError(code, detail);
}

/** 403: the request is well formed but not allowed (`not_enrolled`, `hardware_mismatch`). */
export function refused(code: string, detail: string): Error {
  return new ForbiddenError(code, detail);
}

/** 409 with a specific code. */
export function conflict(code: string, detail: string): Error {
  return new ConflictError(code, detail);
}

/** 404 with a specific code (`device_not_found`, `certificate_not_found`). */
export function notFound(code: string, detail: string): Error {
  return new NotFoundError(code, detail);
}
