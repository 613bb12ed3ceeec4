// Readiness of the services the gateway routes to, via the NATS services API.
import { type Bus } from '@drover/bus';
import { rpcSubject } from '@drover/contracts';
import { ErrorCode, NatsError, RequestStrategy } from 'nats';

/**
 * True when at least one instance of `service` in this gateway's namespace answers an INFO
 * request. The services API names services without the namespace, so instances from other
 * namespaces (tests, side-by-side installs) also answer; we accept only those whose endpoint
 * subjects are ours (`probeOp` is any operation the service serves).
 */
export function serviceHealth(
  bus: Bus,
  service: string,
  probeOp: string,
  timeoutMs = 1000,
): () => Promise<boolean> {
  const expected = rpcSubject(bus.naming, service, probeOp);
  return async () => {
    if (bus.nc.isClosed()) return false;
    try {
      const infos = await bus.nc.services
        .client({ strategy: RequestStrategy.Timer, maxWait: timeoutMs })
        .info(service);
      for await (const info of infos) {
        if (info.endpoints.some((e) => e.subject === expected)) return true;
      }
      return false;
    } catch (err) {
      // Nobody serves it at all: an expected "not ready", not a failure worth a stack trace.
      if (err instanceof NatsError && err.code === ErrorCode.NoResponders) return false;
      throw err;
    }
  };
}
