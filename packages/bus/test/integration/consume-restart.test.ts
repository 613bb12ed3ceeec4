import { rm } from 'node:fs/promises';
import { deviceSubject } from '@drover/contracts';
import { startPrivateNats, testNamespace, waitFor, type PrivateNats } from '@drover/testing';
import { connectBus, consume, ensureStreams, publish, type Bus, type Consumer } from '../../src';
import { testLogger } from './helpers';

// A NATS restart must be a pause for a consumer, never the end of it. This runs against a
// private nats-server (the shared one must not be restarted).
describe('consume across a NATS restart', () => {
  const ns = testNamespace('restart');
  let nats: PrivateNats;
  let bus: Bus;
  let consumer: Consumer;
  const seen: number[] = [];

  beforeAll(async () => {
    nats = await startPrivateNats({ jetstream: true });
    bus = await connectBus({
      url: nats.url,
      name: 'restart-test',
      logger: testLogger,
      namespace: ns,
    });
    await ensureStreams(bus, { telemetryMaxBytes: 16 * 1024 * 1024 });
    consumer = await consume(bus, {
      stream: 'DEVICE',
      durable: 'restart',
      fetchExpiresMs: 1000,
      handler: async (m) => {
        seen.push(m.json<{ n: number }>().n);
      },
    });
  });

  afterAll(async () => {
    await consumer.stop();
    await bus.close();
    await nats.destroy();
  });

  const send = (n: number) =>
    publish(bus, deviceSubject(bus.naming, 'presence', 'acme', `d${n}`), { n }, { msgId: `m${n}` });

  it('consumes messages published after a stop/start of the server', async () => {
    await send(1);
    await waitFor(() => seen.includes(1));
    await nats.stop();
    await nats.start();
    // Publishing fails until the client has reconnected and JetStream is back.
    await waitFor(() => send(2), { timeoutMs: 20_000, intervalMs: 250 });
    await waitFor(() => seen.includes(2), { timeoutMs: 20_000 });
  });

  it('consumes again after a crash (SIGKILL) of the server', async () => {
    await nats.kill();
    await nats.start();
    await waitFor(() => send(3), { timeoutMs: 20_000, intervalMs: 250 });
    await waitFor(() => seen.includes(3), { timeoutMs: 20_000 });
  });

  it('re-creates stream and consumer when the server comes back without them', async () => {
    await nats.stop();
    await rm(nats.storeDir, { recursive: true, force: true });
    await nats.start();
    const stream = `${ns.toUpperCase()}_DEVICE`;
    await waitFor(() => bus.jsm.consumers.info(stream, 'restart'), {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    await send(4);
    await waitFor(() => seen.includes(4), { timeoutMs: 20_000 });
  });
});
