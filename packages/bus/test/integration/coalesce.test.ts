// Write coalescing on a real NATS server: what one event-loop iteration publishes from many
// callbacks goes out in one socket write (one per callback without it), nothing is lost or
// reordered, request/reply still answers, and a publish just before close() is delivered.
import { type NatsConnection } from 'nats';
import { TEST_NATS_URL, testNamespace, waitFor } from '@drover/testing';
import { createLogger } from '@drover/observability';
import { type Bus, coalesceWrites, connectBus } from '../../src';

const logger = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** Counts the socket writes of a connection (nats.js's transport, as coalesceWrites knows it). */
function countWrites(nc: NatsConnection): () => number {
  const transport = (nc as unknown as { protocol: { transport: { send(b: Uint8Array): void } } })
    .protocol.transport;
  const send = transport.send.bind(transport);
  let writes = 0;
  transport.send = (b) => {
    writes += 1;
    send(b);
  };
  return () => writes;
}

describe('coalesceWrites', () => {
  const ns = testNamespace('coalesce');
  const subject = `${ns}.c`;
  const buses: Bus[] = [];
  const open = async (coalesce: boolean) => {
    const bus = await connectBus({
      url: TEST_NATS_URL,
      name: ns,
      logger,
      namespace: ns,
      coalesceWrites: coalesce,
    });
    buses.push(bus);
    return bus;
  };
  let reader: Bus;
  const seen: string[] = [];

  beforeAll(async () => {
    reader = await open(false);
    reader.nc.subscribe(subject, { callback: (_e, m) => seen.push(m.string()) });
    reader.nc.subscribe(`${subject}.echo`, { callback: (_e, m) => m.respond(m.data) });
    await reader.nc.flush();
  });
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
  });

  // Publishes n messages, each from its own setImmediate callback of one iteration.
  const burst = (nc: NatsConnection, tag: string, n: number) =>
    new Promise<void>((resolve) => {
      for (let i = 0; i < n; i++) {
        setImmediate(() => {
          nc.publish(subject, `${tag}-${i}`);
          if (i === n - 1) setImmediate(resolve);
        });
      }
    });

  it('writes the publishes of one iteration at once, in order, none lost', async () => {
    const coalesced = await open(true);
    const plain = await open(false);
    const writesCoalesced = countWrites(coalesced.nc);
    const writesPlain = countWrites(plain.nc);
    await burst(coalesced.nc, 'c', 20);
    await burst(plain.nc, 'p', 20);
    await waitFor(() => seen.length === 40, { description: '40 messages' });
    expect(seen.filter((s) => s.startsWith('c-'))).toEqual(
      Array.from({ length: 20 }, (_, i) => `c-${i}`),
    );
    expect(seen.filter((s) => s.startsWith('p-'))).toHaveLength(20);
    // (A keep-alive PING may fall into the burst: one more write.)
    expect(writesCoalesced()).toBeLessThanOrEqual(2);
    expect(writesPlain()).toBeGreaterThanOrEqual(20);
    // Request/reply and flush() are unchanged.
    const reply = await coalesced.nc.request(`${subject}.echo`, 'ping', { timeout: 5000 });
    expect(reply.string()).toBe('ping');
    await coalesced.nc.flush();
  });

  it('delivers a publish made just before close()', async () => {
    const bus = await open(true);
    seen.length = 0;
    bus.nc.publish(subject, 'last');
    await bus.close();
    await waitFor(() => seen.includes('last'), { description: 'the last publish' });
  });

  it('is recognised on this nats.js (fails loudly when an upgrade changes its internals)', async () => {
    const bus = await open(false);
    expect(coalesceWrites(bus.nc)).toBe(true);
  });
});
