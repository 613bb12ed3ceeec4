// The JetStream pipeline against the real server: acks, dedup by Nats-Msg-Id, headers kept,
// many publishes in flight, and the failures a caller retries (no stream, timeout, closed); the
// bus's shared pipeline and its end with the connection.
import { headers as natsHeaders } from 'nats';
import { telemetrySubject } from '@drover/contracts';
import { cleanupNamespace, testNamespace, withTestBus } from '@drover/testing';
import { type Bus, createJsPipeline, HEADERS, PipelinedPublishError } from '../../src';

jest.setTimeout(60_000);

describe('JetStream pipeline', () => {
  const ns = testNamespace('jspipe');
  let bus: Bus;

  beforeAll(async () => {
    bus = await withTestBus(ns);
  });
  afterAll(async () => {
    await cleanupNamespace(ns, { bus });
    await bus.close();
  });

  const data = (n: number) => Buffer.from(JSON.stringify({ n }));

  it('stores many publishes in flight, each once, with its headers', async () => {
    const pipe = createJsPipeline(bus.nc);
    const subject = telemetrySubject(bus.naming, 'acme', 'sensor', 'p1');
    const acks = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        pipe.publish(subject, data(i), `p1:m${i}`, { [HEADERS.correlationId]: `p1:m${i}` }),
      ),
    );
    expect(new Set(acks.map((a) => a.seq)).size).toBe(500);
    expect(acks.every((a) => !a.duplicate && a.stream === bus.naming.stream('TELEMETRY'))).toBe(
      true,
    );
    const again = await pipe.publish(subject, data(7), 'p1:m7');
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(acks[7]!.seq);
    const stored = await bus.jsm.streams.getMessage(bus.naming.stream('TELEMETRY'), {
      seq: acks[3]!.seq,
    });
    expect(stored.header.get(HEADERS.msgId)).toBe('p1:m3');
    expect(stored.header.get(HEADERS.correlationId)).toBe('p1:m3');
    expect(stored.json()).toEqual({ n: 3 });
    expect(pipe.pending()).toBe(0);
    pipe.close();
  });

  it('fails a publish no stream takes with no_responders', async () => {
    // A long ack time-out: on a loaded machine the 503 can take seconds, and only its absence
    // (not its lateness) may fail this test.
    const pipe = createJsPipeline(bus.nc, { timeoutMs: 40_000 });
    const err = await pipe.publish(`${ns}.nowhere.x`, data(1), 'x1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelinedPublishError);
    expect((err as PipelinedPublishError).code).toBe('no_responders');
    pipe.close();
  });

  it('fails a publish whose ack never comes with timeout', async () => {
    const pipe = createJsPipeline(bus.nc, { timeoutMs: 200 });
    // A core subscriber that never answers: the request finds a responder but no PubAck.
    const silent = bus.nc.subscribe(`${ns}.silent.>`);
    const err = await pipe.publish(`${ns}.silent.x`, data(1), 's1').catch((e: unknown) => e);
    expect((err as PipelinedPublishError).code).toBe('timeout');
    expect(pipe.pending()).toBe(0);
    silent.unsubscribe();
    pipe.close();
  });

  it('fails pending and later publishes once closed', async () => {
    const pipe = createJsPipeline(bus.nc);
    const silent = bus.nc.subscribe(`${ns}.silent2.>`);
    const pending = pipe.publish(`${ns}.silent2.x`, data(1), 's2').catch((e: unknown) => e);
    await bus.nc.flush();
    pipe.close();
    expect(((await pending) as PipelinedPublishError).code).toBe('closed');
    const after = await pipe.publish(`${ns}.silent2.x`, data(2), 's3').catch((e: unknown) => e);
    expect((after as PipelinedPublishError).code).toBe('closed');
    silent.unsubscribe();
  });

  it('reports a JetStream error answer with its code', async () => {
    const pipe = createJsPipeline(bus.nc);
    // A fake stream answering with an API error, as JetStream does for a rejected publish.
    const fake = bus.nc.subscribe(`${ns}.fake.>`, {
      callback: (_e, m) =>
        m.respond(
          Buffer.from(JSON.stringify({ error: { code: 400, err_code: 10060, description: 'no' } })),
        ),
    });
    const err = await pipe.publish(`${ns}.fake.x`, data(1), 'f1').catch((e: unknown) => e);
    expect((err as PipelinedPublishError).code).toBe('10060');
    expect((err as Error).message).toBe('no');
    fake.unsubscribe();
    pipe.close();
  });

  it('publishes with headers the caller built', async () => {
    const pipe = createJsPipeline(bus.nc);
    const h = natsHeaders();
    h.set(HEADERS.traceparent, '00-abc');
    h.set(HEADERS.msgId, 'p2:m1');
    const subject = telemetrySubject(bus.naming, 'acme', 'sensor', 'p2');
    const ack = await pipe.publishWithHeaders(subject, data(1), h);
    const stored = await bus.jsm.streams.getMessage(ack.stream, { seq: ack.seq });
    expect(stored.header.get(HEADERS.msgId)).toBe('p2:m1');
    expect(stored.header.get(HEADERS.traceparent)).toBe('00-abc');
    expect((await pipe.publishWithHeaders(subject, data(1), h)).duplicate).toBe(true);
    pipe.close();
  });

  it('drain waits for the awaited acks, then closes', async () => {
    const pipe = createJsPipeline(bus.nc);
    const subject = telemetrySubject(bus.naming, 'acme', 'sensor', 'p3');
    const acks = Array.from({ length: 50 }, (_, i) => pipe.publish(subject, data(i), `p3:m${i}`));
    await pipe.drain();
    expect((await Promise.all(acks)).every((a) => a.seq > 0)).toBe(true);
    const after = await pipe.publish(subject, data(0), 'p3:x').catch((e: unknown) => e);
    expect((after as PipelinedPublishError).code).toBe('closed');
  });

  it('the bus shares one pipeline, which ends with the connection', async () => {
    const own = await withTestBus(ns, { ensureStreams: false });
    const pipe = own.pipeline();
    expect(own.pipeline()).toBe(pipe);
    const subject = telemetrySubject(own.naming, 'acme', 'sensor', 'p4');
    const acked = pipe.publish(subject, data(1), 'p4:m1');
    await own.drain();
    expect((await acked).seq).toBeGreaterThan(0);
    const after = await pipe.publish(subject, data(2), 'p4:m2').catch((e: unknown) => e);
    expect((after as PipelinedPublishError).code).toBe('closed');
  });

  it('fails pending publishes when the connection closes under it', async () => {
    const own = await withTestBus(ns, { ensureStreams: false });
    const pipe = createJsPipeline(own.nc);
    const silent = bus.nc.subscribe(`${ns}.silent3.>`);
    await bus.nc.flush();
    const pending = pipe.publish(`${ns}.silent3.x`, data(1), 's4').catch((e: unknown) => e);
    await own.nc.flush();
    await own.nc.close();
    expect(((await pending) as PipelinedPublishError).code).toBe('closed');
    silent.unsubscribe();
  });
});
