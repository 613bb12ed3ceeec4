// The device-registry as the gateway sees it: typed request/reply over the NATS services API.
// The gateway never touches the registry's database; every call carries the caller's tenant.
import { rpcRequest, type Bus } from '@drover/bus';
import {
  DEVICE_REGISTRY_SERVICE,
  type DeviceRegistryOp,
  type DeviceRegistryRpc,
} from '@drover/contracts';
import { type Static } from '@sinclair/typebox';

type Rpc = typeof DeviceRegistryRpc;
/** Request body of a registry operation. */
export type RegistryRequest<Op extends DeviceRegistryOp> = Static<Rpc[Op]['request']>;
/** Response body of a registry operation. */
export type RegistryResponse<Op extends DeviceRegistryOp> = Static<Rpc[Op]['response']>;

/** Calls into the device-registry. */
export interface RegistryClient {
  /** Runs `op`; rethrows the registry's DomainError, or 503 when it does not answer. */
  call<Op extends DeviceRegistryOp>(
    op: Op,
    body: RegistryRequest<Op>,
    correlationId: string,
  ): Promise<RegistryResponse<Op>>;
}

/** Options of `createRegistryClient`. */
export interface RegistryClientOptions {
  /** How long to wait for an answer before answering 503. */
  timeoutMs: number;
}

/** A registry client on the bus. */
export function createRegistryClient(bus: Bus, opts: RegistryClientOptions): RegistryClient {
  return {
    call(op, body, correlationId) {
      return rpcRequest(bus, DEVICE_REGISTRY_SERVICE, op, body, {
        timeoutMs: opts.timeoutMs,
        correlationId,
      });
    },
  };
}
