// Composition of the ingress: bus, registry cache, N shared-subscription connections plus some
// for `cmd/res` and one for `status`, the command forwarders and the ops server.
import mqtt from 'mqtt';
import {
  DEVICE_CHANNELS,
  type DeviceChannel,
  deviceChannelFilter,
  namespace,
  sharedSubscription,
} from '@drover/contracts';
import { type Consumer, BusHealth, connectBus, ensureStreams } from '@drover/bus';
import {
  type Logger,
  type Metrics,
  createLogger,
  createMetrics,
  startOpsServer,
} from '@drover/observability';
import { type IngressConfig } from './config';
import { createTokenBucket } from './domain/rate-limit';
import { createDeviceMetaCache } from './adapters/registry/device-meta.cache';
import { startDeviceEvents } from './adapters/nats/device-events.consumer';
import { createIngressPublisher } from './adapters/nats/ingress.publisher';
import { startCommandForwarders } from './adapters/nats/command.forwarder';
import { createCommandSentReporter, createSentHold } from './adapters/nats/command-sent.reporter';
import {
  type MessageSink,
  type Subscriber,
  openSubscriber,
} from './adapters/mqtt/subscriber.connection';
import { assertMemberUnique, joinShareGroup } from './adapters/nats/share-group.members';
import { openSessionLedger } from './adapters/nats/session-ledger.kv';
import { retireSession } from './adapters/mqtt/session.retirer';
import { recordSessions, type SessionSweeper, startSessionSweeper } from './session.sweeper';
import { roleKinds, type TrafficKind } from './domain/ingress-role';
import { openEgress } from './adapters/mqtt/egress.connection';
import { brokerTarget, tlsConnectOptions } from './adapters/mqtt/broker';
import { startProvisioningBridge } from './adapters/mqtt/provisioning.bridge';
import { createMessageHandler } from './message.handler';
import { ingressMetrics } from './ingress.metrics';

/** A running ingress. */
export interface MqttIngress {
  /** Graceful stop: stop intake, finish in-flight messages, close everything. */
  stop(): Promise<void>;
  /** The service's metrics (tests and the benchmark read them). */
  metrics: Metrics;
  /** The ops server's port (0 when disabled). */
  opsPort: number;
  /** The fixed MQTT client ids of the subscriber connections: `<MQTT_CLIENT_ID>-<n>` for the
   * `MQTT_CONNECTIONS` ones, `<MQTT_CLIENT_ID>-answers-<n>` for the `MQTT_ANSWER_CONNECTIONS`
   * ones, then `<MQTT_CLIENT_ID>-status`. */
  clientIds: string[];
  /** Sweeps the session ledger now (tests; it also runs on its own). */
  sweep(): Promise<void>;
}

// How long a stopping replica waits for the others' answers, for the broker to confirm an
// unsubscribe, and at most, beyond MQTT_HANDOFF_QUIET_MS, for its sessions to run dry after it
// gave its subscriptions up (the quiet time itself is up to 10 s: at most 15 s in all, inside
// the chart's 30 s grace; what a session still holds then waits for the ledger's sweep).
const MEMBERS_WAIT_MS = 250;
const UNSUBSCRIBE_WAIT_MS = 2000;
const HANDOFF_DRAIN_EXTRA_MS = 5000;
// A retired session's messages are handled until none came for this long (the hand-off's quiet
// time when set), at most for the second.
const RETIRE_QUIET_MS = 250;
const RETIRE_MAX_MS = 60_000;

/** Options beyond the environment. */
export interface StartOptions {
  /** Logger (default: a pino logger at LOG_LEVEL). */
  logger?: Logger;
  /** Start the ops server (default: true). */
  opsServer?: boolean;
}

/** The device channel with a connection of its own. */
const STATUS_CHANNEL: DeviceChannel = 'status';
/** The device channel with connections of their own: command answers. */
const ANSWER_CHANNEL: DeviceChannel = 'cmd/res';

/** The shared subscriptions of the ingress, split by connection. */
export interface SubscriptionFilters {
  /** `status` alone, for the one status connection. */
  status: string[];
  /** `cmd/res` alone, for the `MQTT_ANSWER_CONNECTIONS` answer connections. */
  answers: string[];
  /** Every other device channel, for each of the `MQTT_CONNECTIONS` connections. */
  other: string[];
}

/**
 * Filters of every device channel, as shared subscriptions (never `#`). `status` is apart: a
 * connection handles its messages one at a time, in the broker's order, so one connection for
 * all statuses stamps a device's `online`s and last wills in the order the broker received them
 * (the registry orders presence by that stamp); spread over many connections, an older status
 * stuck behind a slow message would be stamped after a newer one. `cmd/res` is apart too: a
 * command's answer never waits behind telemetry queued on the data connections (the round
 * trip of a command is timed; telemetry is not).
 */
export function subscriptionFilters(group: string, prefix: string): SubscriptionFilters {
  const filter = (c: DeviceChannel) =>
    sharedSubscription(group, deviceChannelFilter(c, prefix || undefined));
  return {
    status: [filter(STATUS_CHANNEL)],
    answers: [filter(ANSWER_CHANNEL)],
    other: DEVICE_CHANNELS.filter((c) => c !== STATUS_CHANNEL && c !== ANSWER_CHANNEL).map(filter),
  };
}

/** Starts the ingress; resolves when every connection is subscribed. */
export async function startMqttIngress(
  config: IngressConfig,
  opts: StartOptions = {},
): Promise<MqttIngress> {
  const logger = opts.logger ?? createLogger({ service: 'mqtt-ingress', level: config.LOG_LEVEL });
  // Checked (and the TLS files read) before anything connects: a bad setting fails the start.
  const broker = brokerTarget(config);
  const metrics = createMetrics({ service: 'mqtt-ingress' });
  const series = ingressMetrics(metrics);
  const naming = namespace(config.DROVER_NAMESPACE);
  const bus = await connectBus({
    url: config.NATS_URL,
    name: 'mqtt-ingress',
    logger,
    namespace: config.DROVER_NAMESPACE,
    replicas: config.NATS_REPLICAS,
  });
  try {
    // Two replicas of one client id take each other's broker connections over without end.
    await assertMemberUnique({
      bus,
      naming,
      group: config.MQTT_SHARE_GROUP,
      member: config.MQTT_CLIENT_ID,
      waitMs: MEMBERS_WAIT_MS,
    });
  } catch (err) {
    await bus.close();
    throw err;
  }
  if (config.ENSURE_STREAMS) {
    await ensureStreams(bus, { telemetryMaxBytes: config.TELEMETRY_STREAM_MAX_BYTES });
  }
  const meta = createDeviceMetaCache(bus, {
    ttlMs: config.META_CACHE_TTL_MS,
    negativeTtlMs: config.META_CACHE_NEGATIVE_TTL_MS,
    staleMaxMs: config.META_CACHE_STALE_MAX_MS,
    max: config.META_CACHE_MAX,
    onRefreshError: (err, tenant, deviceId) =>
      logger.warn(
        { event: 'meta_cache.refresh_failed', tenant, device_id: deviceId, err: String(err) },
        'serving the last device meta',
      ),
  });
  // Device and provisioning events drop or update entries at once (registration, decommission).
  const metaEvents = startDeviceEvents(bus, meta, logger);
  let stopping = false;
  let stopped: Promise<void> | null = null;
  const kinds = new Set(roleKinds(config.INGRESS_ROLE));
  const sentHold =
    config.COMMANDS_ENABLED && kinds.has('commands') && config.COMMAND_SENT_HOLD_MS > 0
      ? createSentHold(config.COMMAND_SENT_HOLD_MS)
      : undefined;
  const handler = createMessageHandler({
    prefix: config.MQTT_TOPIC_PREFIX,
    limits: {
      maxBytes: config.MAX_PAYLOAD_BYTES,
      maxFutureSkewMs: config.MAX_FUTURE_SKEW_MS,
      maxAgeMs: config.MAX_AGE_MS,
    },
    meta,
    publisher: createIngressPublisher(bus, naming, {
      telemetryBatchMax: config.TELEMETRY_BATCH_MAX,
      ...(sentHold !== undefined && { sentHold }),
    }),
    rejectBudget: createTokenBucket(config.REJECT_REPORTS_PER_S),
    metrics: series,
    logger,
    isStopping: () => stopping,
  });
  const filters = subscriptionFilters(config.MQTT_SHARE_GROUP, config.MQTT_TOPIC_PREFIX);
  const connections: {
    kind: TrafficKind;
    clientId: string;
    filters: string[];
    dropFilters: string[];
    pipeline?: number;
  }[] = [];
  if (kinds.has('devices')) {
    for (let i = 0; i < config.MQTT_CONNECTIONS; i += 1) {
      connections.push({
        kind: 'devices',
        clientId: `${config.MQTT_CLIENT_ID}-${i}`,
        filters: filters.other,
        // Sessions of older versions took `status` and `cmd/res` on every connection: drop them.
        dropFilters: [...filters.status, ...filters.answers],
      });
    }
  }
  if (kinds.has('commands')) {
    for (let i = 0; i < config.MQTT_ANSWER_CONNECTIONS; i += 1) {
      connections.push({
        kind: 'commands',
        clientId: `${config.MQTT_CLIENT_ID}-answers-${i}`,
        filters: filters.answers,
        dropFilters: [],
      });
    }
  }
  if (kinds.has('devices')) {
    // Still a shared subscription in the same group: replicas split the devices' statuses.
    connections.push({
      kind: 'devices',
      clientId: `${config.MQTT_CLIENT_ID}-status`,
      filters: filters.status,
      dropFilters: [],
      pipeline: config.MQTT_STATUS_PIPELINE,
    });
  }
  const clientIds = connections.map((c) => c.clientId);
  // The session ledger: written before anything connects, so a replica retiring this one's
  // sessions (it was away for longer than the retire delay) sees it back and stops.
  const self = { member: config.MQTT_CLIENT_ID, prefix: config.MQTT_TOPIC_PREFIX };
  const recorded =
    config.MQTT_SESSION_RETIRE_AFTER_MS > 0
      ? await recordSessions({
          ledger: await openSessionLedger(bus, naming),
          self,
          sessions: connections.map((c) => ({ client_id: c.clientId, filters: c.filters })),
          logger,
        })
      : null;
  for (const c of connections) c.dropFilters.push(...(recorded?.drop.get(c.clientId) ?? []));
  // When each kind of traffic last brought a message, and how many are being handled: a hand-off
  // waits until the sessions it gave up have run dry.
  const activity: Record<TrafficKind, { last: number; inFlight: number }> = {
    commands: { last: 0, inFlight: 0 },
    devices: { last: 0, inFlight: 0 },
  };
  const sinkOf =
    (kind: TrafficKind): MessageSink =>
    (topic, payload, contentType) => {
      const a = activity[kind];
      a.last = Date.now();
      a.inFlight += 1;
      return handler(topic, payload, contentType).finally(() => {
        a.inFlight -= 1;
      });
    };
  const subscribers: (Subscriber & { kind: TrafficKind })[] = connections.map(({ kind, ...c }) => ({
    kind,
    ...openSubscriber({ url: broker.url, tls: broker.tls, ...c, sink: sinkOf(kind), logger }),
  }));
  await Promise.all(subscribers.map((s) => s.ready));
  const sweeper: SessionSweeper | null =
    recorded === null
      ? null
      : startSessionSweeper({
          ledger: recorded.ledger,
          entry: recorded.entry,
          self,
          retireAfterMs: config.MQTT_SESSION_RETIRE_AFTER_MS,
          retire: (session, signal) =>
            retireSession({
              url: broker.url,
              tls: broker.tls,
              clientId: session.client_id,
              filters: session.filters,
              sink: handler,
              quietMs: config.MQTT_HANDOFF_QUIET_MS || RETIRE_QUIET_MS,
              maxMs: RETIRE_MAX_MS,
              signal,
              logger,
            }),
          onRetired: (reason, retired) => {
            series.sessionsRetired.inc({ reason });
            series.retiredMessages.inc(retired.handled);
          },
          logger,
        });
  // Only once subscribed: a replica that stops hands its share over only to one that takes it.
  const membership =
    config.MQTT_HANDOFF_QUIET_MS > 0
      ? joinShareGroup({
          bus,
          naming,
          group: config.MQTT_SHARE_GROUP,
          member: config.MQTT_CLIENT_ID,
          role: config.INGRESS_ROLE,
          waitMs: MEMBERS_WAIT_MS,
          logger,
        })
      : null;
  // Gives the subscriptions of each kind of traffic another replica (up, not stopping) handles
  // to the others, and handles what the sessions still deliver; see share-group.members.ts.
  const handOff = async (): Promise<void> => {
    const taken = membership === null ? new Set<TrafficKind>() : await membership.leaving();
    const leaving = subscribers.filter((s) => taken.has(s.kind));
    if (leaving.length === 0) return;
    const given = await Promise.all(leaving.map((s) => s.unsubscribe(UNSUBSCRIBE_WAIT_MS)));
    const gone = [...taken];
    const start = Date.now();
    for (const kind of gone) activity[kind].last = Math.max(activity[kind].last, start);
    const dry = () =>
      gone.every(
        (kind) =>
          activity[kind].inFlight === 0 &&
          Date.now() - activity[kind].last >= config.MQTT_HANDOFF_QUIET_MS,
      );
    const until = start + config.MQTT_HANDOFF_QUIET_MS + HANDOFF_DRAIN_EXTRA_MS;
    while (Date.now() < until && !dry()) {
      await new Promise((r) => setTimeout(r, 10));
    }
    logger.info(
      {
        event: 'ingress.handed_off',
        kinds: gone,
        connections: given.filter(Boolean).length,
        // The broker did not confirm these in time: their subscriptions may stay.
        unconfirmed: given.filter((g) => !g).length,
      },
      'shared subscriptions handed to the other replicas',
    );
  };

  const egress = openEgress(broker.url, `${config.MQTT_CLIENT_ID}-egress`, logger, broker.tls);
  const openProvisioning = async () => {
    const client = await mqtt.connectAsync(broker.url, {
      clientId: `${config.MQTT_CLIENT_ID}-prov`,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 1000,
      ...tlsConnectOptions(broker.tls),
    });
    const provisioning = await startProvisioningBridge({
      bus,
      subscriber: client,
      egress,
      prefix: config.MQTT_TOPIC_PREFIX,
      shareGroup: config.MQTT_SHARE_GROUP,
      maxBytes: config.MAX_PAYLOAD_BYTES,
      logger,
    });
    return { client, provisioning };
  };
  // Provisioning requests and renewal answers, on a connection of their own (the bridge module).
  const bridge = kinds.has('devices') ? await openProvisioning() : null;
  const forwarders: Consumer[] =
    config.COMMANDS_ENABLED && kinds.has('commands')
      ? await startCommandForwarders({
          bus,
          naming,
          prefix: config.MQTT_TOPIC_PREFIX,
          meta,
          egress,
          metrics: series,
          logger,
          onCommandSent: createCommandSentReporter(bus, naming, logger, sentHold),
        })
      : [];
  const ops =
    opts.opsServer === false
      ? null
      : await startOpsServer({
          port: config.OPS_PORT,
          registry: metrics.registry,
          checks: {
            nats: BusHealth(bus),
            mqtt: async () => subscribers.every((s) => s.client.connected),
          },
          logger,
        });
  logger.info({ event: 'ingress.started', connections: clientIds.length }, 'mqtt-ingress up');

  return {
    metrics,
    opsPort: ops?.port ?? 0,
    clientIds,
    sweep: async () => sweeper?.sweep(),
    stop() {
      // Once: a second call waits for the first.
      stopped ??= (async () => {
        // No more heartbeats: if this replica does not come back, its entry goes stale.
        await sweeper?.stop();
        await handOff();
        membership?.close();
        stopping = true;
        // In-flight messages finish (bounded by the connection count); anything newer stays
        // unacknowledged in the broker session and is redelivered after the restart.
        const deadline = Date.now() + 10000;
        while (handler.inFlight() > 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 10));
        }
        await Promise.all(subscribers.map((s) => s.close(true)));
        const unacked = subscribers.reduce((n, s) => n + s.unacked(), 0);
        if (unacked > 0) {
          logger.info(
            { event: 'ingress.messages_unacked', count: unacked },
            'messages that came while stopping are left to the broker for redelivery',
          );
        }
        await bridge?.provisioning.stop();
        await bridge?.client.endAsync();
        await Promise.all(forwarders.map((f) => f.stop()));
        // No answer can take them any more: the held broker acks are reported now.
        await sentHold?.flush();
        metaEvents.stop();
        await egress.close();
        await ops?.close();
        await bus.drain();
        logger.info({ event: 'ingress.stopped' }, 'mqtt-ingress stopped');
      })();
      return stopped;
    },
  };
}
