import {
  connect,
  Events,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
import { namespace, type Naming } from '@drover/contracts';
import { createJsPipeline, type JsPipeline } from './js-pipeline';

/** The slice of a pino logger the bus writes to; any pino `Logger` fits. */
export interface BusLogger {
  /** Debug-level structured log. */
  debug(obj: object, msg?: string): void;
  /** Info-level structured log. */
  info(obj: object, msg?: string): void;
  /** Warn-level structured log. */
  warn(obj: object, msg?: string): void;
  /** Error-level structured log. */
  error(obj: object, msg?: string): void;
}

/** Options for {@link connectBus}. */
export interface ConnectBusOptions {
  /** NATS server URL(s), comma separated allowed. */
  url: string;
  /** Connection name shown in NATS monitoring (the service name). */
  name: string;
  /** Where connection state changes are logged. */
  logger: BusLogger;
  /** Test/multi-install namespace (`DROVER_NAMESPACE`); empty or undefined in production. */
  namespace?: string;
}

/** A live connection to NATS with JetStream handles and the namespace's naming. */
export interface Bus {
  /** The core NATS connection. */
  nc: NatsConnection;
  /** JetStream publish/consume client. */
  js: JetStreamClient;
  /** JetStream management (streams, consumers). */
  jsm: JetStreamManager;
  /** Subject/stream naming for the bus's namespace. */
  naming: Naming;
  /** Logger used by the bus helpers. */
  logger: BusLogger;
  /**
   * The connection's shared JetStream pipeline (created on first use): many publishes in
   * flight without a request object each (the outbox relay, the ingress's hot paths).
   */
  pipeline(): JsPipeline;
  /**
   * Closes the connection at once (pending publishes are flushed by NATS best effort; those
   * of the pipeline still awaiting their ack fail with `closed`).
   */
  close(): Promise<void>;
  /** Waits for the pipeline's awaited acks, drains subscriptions then closes: the graceful variant. */
  drain(): Promise<void>;
}

/**
 * Connects to NATS with unlimited, jittered reconnects, so a NATS restart is a pause and
 * not a crash; consumers re-create their durable state after it (see consume.ts).
 */
export async function connectBus(opts: ConnectBusOptions): Promise<Bus> {
  const nc = await connect({
    servers: opts.url.split(',').map((s) => s.trim()),
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    reconnectJitter: 1000,
    pingInterval: 10_000,
    maxPingOut: 3,
  });
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  const logger = opts.logger;
  void watchStatus(nc, logger);
  let closing: Promise<void> | null = null;
  let pipeline: JsPipeline | null = null;
  return {
    nc,
    js,
    jsm,
    naming: namespace(opts.namespace ?? ''),
    logger,
    pipeline: () => {
      pipeline ??= createJsPipeline(nc);
      return pipeline;
    },
    close: () => {
      pipeline?.close();
      closing ??= nc.isClosed() ? Promise.resolve() : nc.close();
      return closing;
    },
    drain: () => {
      closing ??= nc.isClosed()
        ? Promise.resolve()
        : (async () => {
            // Acks in flight arrive on the pipeline's subscription, which draining would end.
            await pipeline?.drain();
            await nc.drain();
          })();
      return closing;
    },
  };
}

async function watchStatus(nc: NatsConnection, logger: BusLogger): Promise<void> {
  for await (const s of nc.status()) {
    if (s.type === Events.Disconnect) {
      logger.warn({ event: 'bus.disconnected', server: s.data }, 'NATS disconnected');
    } else if (s.type === Events.Reconnect) {
      logger.info({ event: 'bus.reconnected', server: s.data }, 'NATS reconnected');
    } else if (s.type === Events.Error) {
      logger.error({ event: 'bus.error', err: s.data }, 'NATS async error');
    }
  }
}

/**
 * A readiness check for `/readyz`: true when the connection is open and a round trip to the
 * server completes within `timeoutMs`.
 */
export function BusHealth(bus: Bus, timeoutMs = 2000): () => Promise<boolean> {
  return async () => {
    if (bus.nc.isClosed()) return false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const flushed = bus.nc.flush().then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([flushed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** camelCase alias of {@link BusHealth}. */
export const busHealth = BusHealth;
