export { coalesceWrites, connectBus, BusHealth, busHealth } from './connect';
export type { Bus, BusLogger, ConnectBusOptions } from './connect';
export {
  STREAMS,
  streamConfigs,
  ensureStream,
  ensureStreams,
  ensureStoreReplicas,
  deleteStreams,
  resolveStreamName,
} from './streams';
export type { StreamName, StreamOptions, DroverStreamConfig } from './streams';
export { HEADERS, outgoingHeaders } from './headers';
export { publish, publishEvent, qualifySubject, logicalEventSubject } from './publish';
export type { PublishOptions } from './publish';
export { consume } from './consume';
export type { ConsumeOptions, Consumer, HandleAgain } from './consume';
export type { BusMessage } from './message';
export { DLQ_MAX_PAYLOAD_BYTES } from './dlq';
export type { DlqRecord } from './dlq';
export { isRetryable, isTransientNatsError } from './errors';
export { serveRpc, rpcRequest } from './rpc';
export type { RpcContext, RpcEndpoint, ServeRpcOptions, RpcServer, RpcRequestOptions } from './rpc';
export {
  outboxMigration,
  outboxBatchMigration,
  outboxBatch,
  outboxBatchLine,
  parseOutboxBatch,
  isOutboxBatch,
  enqueueEvents,
  enqueueMessages,
  eventMessages,
  outboxRows,
} from './outbox';
export type {
  AnyKysely,
  OutboxDb,
  OutboxTable,
  OutboxMessage,
  OutboxInsertRow,
  OutboxBatchRow,
  OutboxBatchMessage,
  OutboxEntry,
} from './outbox';
export { startOutboxRelay } from './outbox-relay';
export { createJsPipeline, PipelinedPublishError } from './js-pipeline';
export { DEVICE_CHANGE_EVENTS, watchDeviceChanges } from './device-changes';
export type {
  DeviceChange,
  DeviceChangeHandlers,
  DeviceChangeOptions,
  DeviceChangeWatch,
} from './device-changes';
export type { JsPipeline, JsPipelineOptions, PipelinedAck } from './js-pipeline';
export type { EagerStats, OutboxRelay, OutboxRelayOptions } from './outbox-relay';
