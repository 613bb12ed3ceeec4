// Runs the real provisioning service in-process on a private namespace and schema with an
// in-memory PKI and a temporary CRL path, plus watchers on EVENTS, the renewal answers on
// DEVICE and the commands on COMMANDS. `close()` removes every trace of it.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, type ConsumerMessages } from 'nats';
import { type Bus, rpcRequest } from '@drover/bus';
import { commandFilter, deviceFilter, parseEvent, PROVISIONING_SERVICE } from '@drover/contracts';
import { createLogger } from '@drover/observability';
import { type FleetPki, loadOrCreatePki, MemorySecretStore } from '@drover/pki';
import {
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  testNamespace,
  waitFor,
  withTestBus,
} from '@drover/testing';
import { type Kysely } from 'kysely';
import {
  type ProvisioningAppConfig,
  type ProvisioningDeps,
  type ProvisioningService,
  startProvisioning,
} from '../../src/app';
import { type DB } from '../../src/adapters/postgres/schema';

/** One message seen on a stream. */
export interface Seen {
  /** Its subject. */
  subject: string;
  /** Its JSON body. */
  body: Record<string, unknown>;
}

/** A running service with its test surroundings. */
export interface Harness {
  /** Namespace. */
  ns: string;
  /** The caller's bus. */
  bus: Bus;
  /** The service. */
  service: ProvisioningService;
  /** Its CAs. */
  pki: FleetPki;
  /** Its schema. */
  db: Kysely<DB>;
  /** Where it writes the CRL. */
  crlPath: string;
  /** Every event on EVENTS. */
  events: Seen[];
  /** Messages on COMMANDS (`iot.cmd.>`). */
  commands: Seen[];
  /** Renewal answers on DEVICE. */
  renewAnswers: Seen[];
  /** Calls an op. */
  rpc<T = unknown>(op: string, body: Record<string, unknown>): Promise<T>;
  /** Waits for `count` events of a type about a subject. */
  waitEvents(type: string, subject?: string, count?: number): Promise<Seen[]>;
  /** Stops and removes everything. */
  close(): Promise<void>;
}

async function watch(
  bus: Bus,
  stream: string,
  filter: string | undefined,
  durable: string,
  sink: (m: Seen) => void,
): Promise<ConsumerMessages> {
  const streamName = bus.naming.stream(stream);
  let consumer;
  if (filter === undefined) {
    consumer = await bus.js.consumers.get(streamName);
  } else {
    // COMMANDS is a work queue: only acked durables may read it (the test plays the ingress).
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

/** Starts the service on a fresh namespace. */
export async function startHarness(
  label: string,
  config: Partial<ProvisioningAppConfig> = {},
  deps: ProvisioningDeps = {},
): Promise<Harness> {
  const ns = testNamespace(label);
  const schema = `${ns}_prov`;
  const bus = await withTestBus(ns);
  const db = await createTestDb<DB>(schema, { poolMax: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'drover-prov-'));
  const crlPath = join(dir, 'crl.pem');
  const pki = deps.pki ?? (await loadOrCreatePki(new MemorySecretStore()));
  const events: Seen[] = [];
  const commands: Seen[] = [];
  const renewAnswers: Seen[] = [];
  const watchers: ConsumerMessages[] = [];
  let service: ProvisioningService | undefined;
  const teardown = async () => {
    for (const w of watchers) w.stop();
    await service?.stop();
    await cleanupNamespace(ns, { bus });
    await bus.close();
    await dropTestDb(db as unknown as Kysely<unknown>, schema);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    service = await startProvisioning(
      {
        NATS_URL: TEST_NATS_URL,
        DATABASE_URL: TEST_DATABASE_URL,
        DB_SCHEMA: schema,
        DB_POOL_MAX: 4,
        DROVER_NAMESPACE: ns,
        OUTBOX_POLL_MS: 50,
        CONSUMER_CONCURRENCY: 4,
        CRL_PATH: crlPath,
        ...config,
      },
      {
        logger: createLogger({
          service: 'prov-test',
          level: process.env.TEST_LOG_LEVEL ?? 'silent',
        }),
        pki,
        // The key from the environment or secret store in production; a throwaway one here.
        resultKey: randomBytes(32),
        ...deps,
      },
    );
    watchers.push(
      await watch(bus, 'EVENTS', undefined, '', (m) => events.push(m)),
      await watch(bus, 'COMMANDS', commandFilter(bus.naming), 'test-cmd', (m) => commands.push(m)),
      await watch(
        bus,
        'DEVICE',
        deviceFilter(bus.naming, 'cert_renew_res'),
        'test-renew-res',
        (m) => renewAnswers.push(m),
      ),
    );
  } catch (err) {
    await teardown();
    throw err;
  }
  const ofType = (type: string, subject?: string) =>
    events.filter((e) => {
      const parsed = parseEvent(e.body);
      return (
        parsed.ok &&
        parsed.event.type === type &&
        (subject === undefined || parsed.event.subject === subject)
      );
    });
  return {
    ns,
    bus,
    service,
    pki,
    db,
    crlPath,
    events,
    commands,
    renewAnswers,
    rpc: (op, body) => rpcRequest(bus, PROVISIONING_SERVICE, op, body, { timeoutMs: 15_000 }),
    waitEvents: async (type, subject, count = 1) =>
      (await waitFor(() => ofType(type, subject).length >= count && ofType(type, subject), {
        timeoutMs: 10_000,
        description: `${count} × ${type} for ${subject ?? 'any'}`,
      })) as Seen[],
    close: teardown,
  };
}
