export {
  startTelemetryIngest,
  INGEST_DURABLE,
  type TelemetryIngest,
  type StartOptions,
} from './app';
export { IngestConfigSchema, loadIngestConfig, type IngestConfig } from './config';
export {
  TELEMETRY_RPC_SERVICE,
  QueryRawRequest,
  QueryBucketsRequest,
  GetLatestRequest,
} from './rpc/telemetry.rpc';
