// Runs the real registry in-process on a private namespace, schema and Redis prefix, plus
// watchers on the EVENTS and COMMANDS streams; `close()` removes every trace of it.
import { AckPolicy, type ConsumerMessages } from 'nats';
import { type Bus, publish, rpcRequest } from '@drover/bus';
import {
  DEVICE_REGISTRY_SERVICE,
  desiredFilter,
  deviceSubject,
  namespace,
  newUlid,
  parseEvent,
  type ParseEventResult,
} from '@drover/contracts';
import { createLogger } from '@drover/observability';
import {
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  testNamespace,
  waitFor,
  withTestBus,
} from '@drover/testing';
import { type Kysely } from 'kysely';
import { type DeviceRegistry, type RegistryAppConfig, startDeviceRegistry } from '../../src/app';
import { type DB } from '../../src/adapters/postgres/schema';

/** One message seen on a stream. */
export interface Seen {
  /** Its subject. */
  subject: string;
  /** Its JSON body. */
  body: unknown;
}

/** A running registry with its test surroundings. */
export interface Harness {
  /** Namespace of everything. */
  ns: string;
  /** Postgres schema of the registry. */
  schema: string;
  /** A bus on the namespace (the caller's side). */
  bus: Bus;
  /** The registry. */
  registry: DeviceRegistry;
  /** Direct access to the registry's schema. */
  db: Kysely<DB>;
  /** Every event on EVENTS, parsed. */
  events: (Seen & { parsed: ParseEventResult })[];
  /** Every desired-state push on COMMANDS. */
  desired: Seen[];
  /** Every DLQ record. */
  dlq: Seen[];
  /** Value of the registry's DEVICE message counter for a kind and outcome. */
  outcomes(kind: string, outcome: string): Promise<number>;
  /** Calls a registry op. */
  rpc<T = unknown>(op: string, body: Record<string, unknown>): Promise<T>;
  /** Publishes a device's presence onto DEVICE as the ingress does (received at `tsMs`). */
  presence(
    tenant: string,
    deviceId: string,
    state: 'online' | 'offline',
    tsMs: number,
    extra?: Record<string, unknown>,
  ): Promise<void>;
  /** Waits until an event of `type` about `subject` arrived, returns it. */
  waitEvent(type: string, subject: string, count?: number): Promise<Seen>;
  /** Stops and removes everything. */
  close(): Promise<void>;
}

// EVENTS is read with an ordered consumer (no acks, nothing consumed). COMMANDS is a work
// queue, which only allows acked consumers: the test takes the role of the ingress there.
async function watch(
  bus: Bus,
  stream: string,
  filter: string | undefined,
  sink: (m: Seen) => void,
): Promise<ConsumerMessages> {
  const streamName = bus.naming.stream(stream);
  let consumer;
  if (filter === undefined) {
    consumer = await bus.js.consumers.get(streamName);
  } else {
    const durable = 'test-watch';
    await bus.jsm.consumers.add(streamName, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      filter_subject: filter,
    });
    consumer = await bus.js.consumers.get(streamName, durable);
  }
  const messages = await consumer.consume();
  void (async () => {
    for await (const m of messages) {
      sink({ subject: m.subject, body: m.json() });
      if (filter !== undefined) m.ack();
    }
  })();
  return messages;
}

/** Starts a registry on a fresh namespace. */
export async function startHarness(
  label: string,
  config: Partial<RegistryAppConfig> = {},
): Promise<Harness> {
  const ns = testNamespace(label);
  const schema = `${ns}_reg`;
  const bus = await withTestBus(ns);
  const db = await createTestDb<DB>(schema, { poolMax: 2 });
  const events: Harness['events'] = [];
  const desired: Seen[] = [];
  const dlq: Seen[] = [];
  const watchers: ConsumerMessages[] = [];
  let registry: DeviceRegistry | undefined;
  // Also used when the start fails half-way, so a broken run leaves nothing behind.
  const teardown = async () => {
    for (const w of watchers) w.stop();
    await registry?.stop();
    await cleanupNamespace(ns, { bus });
    await bus.close();
    await dropTestDb(db as unknown as Kysely<unknown>, schema);
  };
  try {
    registry = await startDeviceRegistry(
      {
        NATS_URL: TEST_NATS_URL,
        DATABASE_URL: TEST_DATABASE_URL,
        REDIS_URL: TEST_REDIS_URL,
        DB_SCHEMA: schema,
        DB_POOL_MAX: 5,
        DROVER_NAMESPACE: ns,
        OUTBOX_POLL_MS: 50,
        CONSUMER_CONCURRENCY: 4,
        ...config,
      },
      {
        logger: createLogger({
          service: 'registry-test',
          level: process.env.TEST_LOG_LEVEL ?? 'silent',
        }),
      },
    );
    watchers.push(
      await watch(bus, 'EVENTS', undefined, (m) =>
        events.push({ ...m, parsed: parseEvent(m.body) }),
      ),
      await watch(bus, 'COMMANDS', desiredFilter(namespace(ns)), (m) => desired.push(m)),
      await watch(bus, 'DLQ', undefined, (m) => dlq.push(m)),
    );
  } catch (err) {
    await teardown();
    throw err;
  }
  const running = registry;
  const ofType = (type: string, subject: string) =>
    events.filter(
      (e) =>
        (e.body as { type: string; subject?: string }).type === type &&
        (e.body as { subject?: string }).subject === subject,
    );
  return {
    ns,
    schema,
    bus,
    registry: running,
    db,
    events,
    desired,
    dlq,
    outcomes: async (kind, outcome) => {
      const metric = running.metrics.registry.getSingleMetric('registry_device_messages_total');
      const values = (await metric?.get())?.values ?? [];
      const found = values.find((v) => v.labels.kind === kind && v.labels.outcome === outcome);
      return found?.value ?? 0;
    },
    rpc: (op, body) => rpcRequest(bus, DEVICE_REGISTRY_SERVICE, op, body),
    presence: async (tenant, deviceId, state, tsMs, extra = {}) => {
      const body = {
        tenant,
        device_type: 'sensor',
        device_id: deviceId,
        state,
        ts: tsMs,
        received_at: new Date(tsMs).toISOString(),
        ...extra,
      };
      await publish(bus, deviceSubject(bus.naming, 'presence', tenant, deviceId), body, {
        msgId: newUlid(),
      });
    },
    waitEvent: async (type, subject, count = 1) => {
      const found = (await waitFor(
        () => ofType(type, subject).length >= count && ofType(type, subject),
        {
          timeoutMs: 10_000,
          description: `${count} × ${type} for ${subject}`,
        },
      )) as Seen[];
      return found[count - 1]!;
    },
    close: teardown,
  };
}
