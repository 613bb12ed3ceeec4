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
  /**
   * Gathers the writes of one event-loop iteration into one socket write (see
   * {@link coalesceWrites}). Default: true, unless `DROVER_NATS_COALESCE_WRITES=false`.
   */
  coalesceWrites?: boolean;
  /**
   * Replicas of the streams, key-value buckets and object stores this service creates
   * (`NATS_REPLICAS`, 1–5; more than 1 needs a JetStream cluster). Existing ones are brought
   * to this count when they start. Unset: created with the server's default (1), and the
   * count of an existing one is left as its operator set it.
   */
  replicas?: number;
}

/** The part of nats.js's protocol handler that {@link coalesceWrites} replaces and uses. */
interface ProtocolWrites {
  outbound: {
    length(): number;
    size(): number;
    fill(buf: Uint8Array, ...more: Uint8Array[]): void;
  };
  pendingLimit: number;
  sendCommand(cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
  flushPending(): void;
}

function protocolOf(nc: NatsConnection): ProtocolWrites | null {
  const p = (nc as unknown as { protocol?: Partial<ProtocolWrites> }).protocol;
  if (
    p === undefined ||
    typeof p.sendCommand !== 'function' ||
    typeof p.flushPending !== 'function' ||
    typeof p.pendingLimit !== 'number' ||
    typeof p.outbound?.length !== 'function' ||
    typeof p.outbound.size !== 'function' ||
    typeof p.outbound.fill !== 'function'
  ) {
    return null;
  }
  return p as ProtocolWrites;
}

/**
 * Makes the connection write what was published during one event-loop iteration as one socket
 * write, at `setImmediate`, where nats.js writes at the end of each microtask turn (SUB and
 * UNSUB still go at the end of the turn, with whatever is pending). A service
 * that publishes from many I/O callbacks of one iteration (the ingress: a report per MQTT
 * message, an ack per JetStream message) otherwise makes a write, and wakes the server, for
 * each. A full buffer (nats.js's pending limit) and `flush()` still write at once. Measured on
 * bench:commands (1,000 commands/s, two pairs): p50 46 / 49 ms → 36 / 37 ms, p95 96 / 89 ms →
 * 72 / 81 ms. nats.js has no option for it, so this replaces its protocol handler's
 * `sendCommand` (nats 2.29); returns false, changing nothing, when that handler is not shaped
 * as expected. A test that fakes timers must leave `setImmediate` real (`doNotFake`), or its
 * connection's writes wait forever.
 */
export function coalesceWrites(nc: NatsConnection): boolean {
  const proto = protocolOf(nc);
  if (proto === null) return false;
  const encoder = new TextEncoder();
  proto.sendCommand = function sendCommand(cmd, ...payloads) {
    const empty = this.outbound.length() === 0;
    this.outbound.fill(typeof cmd === 'string' ? encoder.encode(cmd) : cmd, ...payloads);
    if (payloads.length === 0) {
      // SUB and UNSUB (no payload) go out at the end of this microtask turn, as nats.js does:
      // a subscription made before a caller's next step (a service ready, then a request to it
      // from another connection) is on the wire first. What is pending goes with them.
      queueMicrotask(() => this.flushPending());
    } else if (empty) setImmediate(() => this.flushPending());
    else if (this.outbound.size() >= this.pendingLimit) this.flushPending();
  };
  return true;
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
  /** Replicas of what the bus creates ({@link ConnectBusOptions.replicas}); undefined: leave. */
  replicas: number | undefined;
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
    // No stack captured per request: nats.js otherwise makes an Error (a stack walk) for every
    // request and for its timer, only to decorate a timeout's stack, and rpcRequest replaces
    // such errors with `service_unavailable` anyway. On the dev machine a request/reply cost
    // 33-36 µs of CPU (both ends in one process) without them, 38-48 µs with them.
    noAsyncTraces: true,
  });
  const coalesce = opts.coalesceWrites ?? process.env.DROVER_NATS_COALESCE_WRITES !== 'false';
  const coalesced = coalesce && coalesceWrites(nc);
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
    replicas: opts.replicas,
    pipeline: () => {
      pipeline ??= createJsPipeline(nc);
      return pipeline;
    },
    close: () => {
      pipeline?.close();
      // What this iteration published goes out before the socket closes.
      if (coalesced && !nc.isClosed()) protocolOf(nc)?.flushPending();
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
