// @drover/ota-orchestrator: the service, startable in-process (tests, the benchmark).
export { startOtaOrchestrator } from './app';
export type {
  FirmwareModule,
  FirmwareModuleFactory,
  OtaAppConfig,
  OtaDeps,
  OtaOrchestrator,
} from './app';
export { OtaConfigSchema, loadOtaConfig } from './config';
export type { OtaConfig } from './config';
export type { FirmwareCatalog, FirmwareRecord } from './firmware/firmware.catalog';
