// The firmware operations of the orchestrator's RPC service, as a handler map the RPC server
// (src/rpc/ota.rpc-server.ts) composes with the deployment operations.
import { type RpcEndpoint } from '@drover/bus';
import {
  FirmwareOps,
  FirmwareRpc,
  type FirmwareDownloadUrlRequest,
  type GetFirmwareRequest,
  type ListFirmwareRequest,
  type RegisterFirmwareRequest,
} from '@drover/contracts';
import { type FirmwareRegistry } from './firmware.registry';

/** op name → endpoint with its contract schema. */
export function firmwareRpcHandlers(registry: FirmwareRegistry): Record<string, RpcEndpoint> {
  return {
    [FirmwareOps.registerFirmware]: {
      schema: FirmwareRpc[FirmwareOps.registerFirmware].request,
      handler: (req) => registry.register(req as RegisterFirmwareRequest),
    },
    [FirmwareOps.listFirmware]: {
      schema: FirmwareRpc[FirmwareOps.listFirmware].request,
      handler: (req) => registry.list(req as ListFirmwareRequest),
    },
    [FirmwareOps.getFirmware]: {
      schema: FirmwareRpc[FirmwareOps.getFirmware].request,
      handler: (req) => registry.getFirmware(req as GetFirmwareRequest),
    },
    [FirmwareOps.firmwareDownloadUrl]: {
      schema: FirmwareRpc[FirmwareOps.firmwareDownloadUrl].request,
      handler: (req) => registry.downloadUrlFor(req as FirmwareDownloadUrlRequest),
    },
  };
}
