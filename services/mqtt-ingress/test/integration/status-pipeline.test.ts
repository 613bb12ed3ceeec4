// A pipelined subscriber connection (the status connection): it reads on while earlier messages
// are still being handled, one topic's messages wait for each other, and PUBACKs leave in the
// order the messages came, each only once its message is handled: a message still being
// handled when the connection goes holds its own PUBACK and every later one, and the broker
// sends exactly those again to the next session. Real broker, real clients.
import mqtt, { type MqttClient } from 'mqtt';
import { createLogger } from '@drover/observability';
import { testNamespace, waitFor } from '@drover/testing';
import { type Subscriber, openSubscriber } from '../../src/adapters/mqtt/subscriber.connection';
import { TEST_MQTT_URL, purgeSessions } from './pipeline.harness';

const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const ns = testNamespace('statuspipe');
const clientId = `${ns}-sub`;
const topic = (device: string) => `${ns}/${device}/status`;

interface Handling {
  topic: string;
  body: string;
  finish: () => void;
}

let device: MqttClient;
const subscribers: Subscriber[] = [];

/** A pipelined subscriber whose handlers finish when the test says so (or at once). */
function subscribe(finishAt: (body: string) => boolean) {
  const handling: Handling[] = [];
  const finished: string[] = [];
  const sub = openSubscriber({
    url: TEST_MQTT_URL,
    clientId,
    filters: [`${ns}/+/status`],
    logger: silent,
    pipeline: 8,
    sink: (t, payload) =>
      new Promise<void>((resolve) => {
        const body = payload.toString();
        const finish = () => {
          finished.push(body);
          resolve();
        };
        handling.push({ topic: t, body, finish });
        if (finishAt(body)) finish();
      }),
  });
  subscribers.push(sub);
  const started = () => handling.map((h) => h.body);
  const finishOne = (body: string) => handling.find((h) => h.body === body)?.finish();
  return { sub, started, finished, finishOne };
}

/** Publishes `[device, body]` pairs, each PUBACKed before the next: the broker has this order. */
async function publishInOrder(messages: [string, string][]): Promise<void> {
  for (const [d, body] of messages) await device.publishAsync(topic(d), body, { qos: 1 });
}

beforeAll(async () => {
  device = await mqtt.connectAsync(TEST_MQTT_URL, { clientId: `${ns}-dev`, clean: true });
});
afterAll(async () => {
  await Promise.all(subscribers.map((s) => s.close(true)));
  await device.endAsync();
  await purgeSessions(TEST_MQTT_URL, [clientId]);
});

it('reads on past a message being handled; one topic’s messages wait for each other', async () => {
  const s = subscribe((body) => body !== 'a1');
  await s.sub.ready;
  await publishInOrder([
    ['a', 'a1'],
    ['b', 'b1'],
    ['c', 'c1'],
    ['a', 'a2'],
    ['d', 'd1'],
  ]);
  // b1, c1 and d1 came after a1 and were handled while a1 still was; a2 waits for a1.
  await waitFor(() => s.finished.includes('d1'), { timeoutMs: 10_000 });
  expect(s.started()).toEqual(['a1', 'b1', 'c1', 'd1']);
  s.finishOne('a1');
  await waitFor(() => s.finished.includes('a2'), { timeoutMs: 10_000 });
  expect(s.finished).toEqual(['b1', 'c1', 'd1', 'a1', 'a2']);
  await s.sub.close();
});

it('acks in order: the broker sends the unfinished message and those after it again', async () => {
  const first = subscribe((body) => body !== 'p2');
  await first.sub.ready;
  await publishInOrder([
    ['x', 'p1'],
    ['y', 'p2'],
    ['z', 'p3'],
  ]);
  await waitFor(() => first.finished.includes('p3'), { timeoutMs: 10_000 });
  expect(first.finished).toEqual(['p1', 'p3']);
  // p1's PUBACK went; p3's waits behind p2, which is still being handled.
  await first.sub.close();

  const second = subscribe(() => true);
  await second.sub.ready;
  await device.publishAsync(topic('x'), 'marker', { qos: 1 });
  await waitFor(() => second.finished.includes('marker'), { timeoutMs: 10_000 });
  // The session's unacknowledged messages come before anything new.
  expect(second.finished).toEqual(['p2', 'p3', 'marker']);
});
