import { deviceSubject } from '@drover/contracts';
import { TransientError } from '@drover/service-kit';
import { cleanupNamespace, testNamespace, waitFor, withTestBus } from '@drover/testing';
import {
  consume,
  publish,
  resolveStreamName,
  type Bus,
  type BusMessage,
  type Consumer,
  type DlqRecord,
} from '../../src';

describe('consume', () => {
  const ns = testNamespace('consume');
  let bus: Bus;
  const consumers: Consumer[] = [];
  const dlq: DlqRecord[] = [];

  const start = async (opts: Parameters<typeof consume>[1]): Promise<Consumer> => {
    const c = await consume(bus, opts);
    consumers.push(c);
    return c;
  };
  const presence = (tenant: string, id: string) =>
    deviceSubject(bus.naming, 'presence', tenant, id);
  const only = (tenant: string) => [bus.naming.subject(`iot.device.${tenant}.>`)];

  beforeAll(async () => {
    bus = await withTestBus(ns);
    await start({
      stream: 'DLQ',
      durable: 'dlq-reader',
      handler: async (m) => {
        dlq.push(m.json<DlqRecord>());
      },
    });
  });

  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.stop()));
    await cleanupNamespace(ns, { bus, redisUrl: null });
    await bus.close();
  });

  it('dead-letters a poison message with the reason while the others keep flowing', async () => {
    const handled: number[] = [];
    await start({
      stream: 'DEVICE',
      durable: 'poison',
      filterSubjects: only('poison'),
      handler: async (m) => {
        const body = m.json<{ n: number }>();
        if (body.n === 2) throw new Error('cannot parse device 2');
        handled.push(body.n);
      },
    });
    for (let n = 1; n <= 5; n++) {
      await publish(bus, presence('poison', `d${n}`), { n }, { msgId: `poison-${n}` });
    }
    await waitFor(() => handled.length === 4 && dlq.some((r) => r.consumer === 'poison'));
    expect(handled.sort()).toEqual([1, 3, 4, 5]);
    const record = dlq.find((r) => r.consumer === 'poison')!;
    expect(record).toMatchObject({
      stream: 'DEVICE',
      subject: presence('poison', 'd2'),
      delivery_count: 1,
      reason: 'permanent_error: cannot parse device 2',
      error_code: 'Error',
      payload_truncated: false,
    });
    expect(JSON.parse(Buffer.from(record.payload_base64, 'base64').toString())).toEqual({ n: 2 });
    expect(record.headers['Nats-Msg-Id']).toBe('poison-2');
  });

  it('redelivers a transient failure with back-off, then succeeds', async () => {
    const deliveries: number[] = [];
    let done = false;
    await start({
      stream: 'DEVICE',
      durable: 'transient',
      filterSubjects: only('transient'),
      backoffMs: [300, 600],
      handler: async (m) => {
        deliveries.push(Date.now());
        if (m.deliveryCount < 3) throw new TransientError('db_busy', 'try later');
        done = true;
      },
    });
    await publish(bus, presence('transient', 'd1'), { n: 1 }, { msgId: 'transient-1' });
    await waitFor(() => done);
    expect(deliveries).toHaveLength(3);
    expect(deliveries[1]! - deliveries[0]!).toBeGreaterThanOrEqual(280);
    expect(deliveries[2]! - deliveries[1]!).toBeGreaterThanOrEqual(580);
    expect(dlq.some((r) => r.consumer === 'transient')).toBe(false);
  });

  it('delivers a message again after the delay its handler asks for, then acks it', async () => {
    const deliveries: number[] = [];
    await start({
      stream: 'DEVICE',
      durable: 'again',
      filterSubjects: only('again'),
      handler: async (m) => {
        deliveries.push(Date.now());
        return m.deliveryCount < 2 ? { againInMs: 400 } : undefined;
      },
    });
    await publish(bus, presence('again', 'd1'), { n: 1 }, { msgId: 'again-1' });
    await waitFor(() => deliveries.length === 2);
    expect(deliveries[1]! - deliveries[0]!).toBeGreaterThanOrEqual(380);
    // Acked the second time: nothing pending, nothing redelivered, nothing dead-lettered.
    const stream = resolveStreamName(bus.naming, 'DEVICE');
    await waitFor(
      async () => (await bus.jsm.consumers.info(stream, 'again')).num_ack_pending === 0,
    );
    const info = await bus.jsm.consumers.info(stream, 'again');
    expect(info).toMatchObject({ num_pending: 0, num_redelivered: 0 });
    expect(deliveries).toHaveLength(2);
    expect(dlq.some((r) => r.consumer === 'again')).toBe(false);
  });

  it('dead-letters a message whose retries reach max_deliver', async () => {
    let calls = 0;
    await start({
      stream: 'DEVICE',
      durable: 'maxdeliver',
      filterSubjects: only('maxdeliver'),
      maxDeliver: 3,
      backoffMs: [50],
      handler: async () => {
        calls++;
        throw new TransientError('upstream_down', 'still down');
      },
    });
    await publish(bus, presence('maxdeliver', 'd1'), { n: 1 }, { msgId: 'maxdeliver-1' });
    const record = await waitFor(() => dlq.find((r) => r.consumer === 'maxdeliver'));
    expect(record.delivery_count).toBe(3);
    expect(record.reason).toBe('max_deliver: still down');
    expect(record.error_code).toBe('upstream_down');
    expect(calls).toBe(3);
  });

  it('never has more than `concurrency` messages in flight or pulled', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const done: BusMessage[] = [];
    await start({
      stream: 'DEVICE',
      durable: 'bounded',
      filterSubjects: only('bounded'),
      concurrency: 3,
      handler: async (m) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await gate;
        inFlight--;
        done.push(m);
      },
    });
    for (let n = 1; n <= 10; n++) {
      await publish(bus, presence('bounded', `d${n}`), { n }, { msgId: `bounded-${n}` });
    }
    await waitFor(() => inFlight === 3);
    const info = await bus.jsm.consumers.info(resolveStreamName(bus.naming, 'DEVICE'), 'bounded');
    expect(info.num_ack_pending).toBe(3);
    release();
    await waitFor(() => done.length === 10);
    expect(maxInFlight).toBe(3);
  });

  it('recreates its consumer when it disappears', async () => {
    const c: number[] = [];
    await start({
      stream: 'DEVICE',
      durable: 'recreate',
      filterSubjects: only('recreate'),
      fetchExpiresMs: 1000,
      handler: async (m) => {
        c.push(m.json<{ n: number }>().n);
      },
    });
    await publish(bus, presence('recreate', 'd1'), { n: 1 }, { msgId: 'recreate-1' });
    await waitFor(() => c.length === 1);
    await bus.jsm.consumers.delete(resolveStreamName(bus.naming, 'DEVICE'), 'recreate');
    await waitFor(() =>
      bus.jsm.consumers.info(resolveStreamName(bus.naming, 'DEVICE'), 'recreate'),
    );
    await publish(bus, presence('recreate', 'd2'), { n: 2 }, { msgId: 'recreate-2' });
    await waitFor(() => c.includes(2), { timeoutMs: 20_000 });
  });
});
