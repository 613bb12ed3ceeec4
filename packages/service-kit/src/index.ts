export {
  loadConfig,
  ConfigError,
  CommonConfig,
  CommonConfigSchema,
  type ConfigIssue,
} from './config';
export {
  DomainError,
  ValidationError,
  UnauthorizedError,
  ForbiddenError,
  NotFoundError,
  ConflictError,
  GoneError,
  PayloadTooLargeError,
  RateLimitedError,
  InternalError,
  TransientError,
  UnavailableError,
  isTransient,
  type DomainErrorOptions,
} from './errors';
export {
  toHttpError,
  serializeError,
  deserializeError,
  type HttpErrorBody,
  type SerializedError,
} from './error-mapping';
export {
  createLifecycle,
  STOP_PHASES,
  type Lifecycle,
  type LifecycleOptions,
  type StopPhase,
} from './lifecycle';
export { runService, type RunServiceOptions } from './run-service';
export {
  runStagedService,
  type StagedService,
  type StagedServiceConfig,
} from './run-staged-service';
export {
  createTurnBatcher,
  type BatchEntry,
  type TurnBatcher,
  type TurnBatcherOptions,
} from './turn-batcher';
