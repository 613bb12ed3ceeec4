import { context, trace, TraceFlags } from '@opentelemetry/api';
import { deviceSubject, eventSubject, InvalidEventError } from '@drover/contracts';
import { currentTraceId, getContext, runWithContext } from '@drover/observability';
import { cleanupNamespace, testNamespace, waitFor, withTestBus } from '@drover/testing';
import { consume, HEADERS, publish, publishEvent, type Bus, type Consumer } from '../../src';
import { collector, registeredEvent } from './helpers';

describe('publish', () => {
  const ns = testNamespace('publish');
  let bus: Bus;
  const consumers: Consumer[] = [];

  beforeAll(async () => {
    bus = await withTestBus(ns);
  });

  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.stop()));
    await cleanupNamespace(ns, { bus, redisUrl: null });
    await bus.close();
  });

  it('sets Nats-Msg-Id, traceparent and correlation id; the handler runs in them', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const spanCtx = { traceId, spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED };
    const inHandler: Array<{ correlationId?: string; traceId?: string }> = [];
    const c = collector();
    consumers.push(
      await consume(bus, {
        stream: 'DEVICE',
        durable: 'publish-headers',
        filterSubjects: [bus.naming.subject('iot.device.hdr.>')],
        handler: async (m) => {
          inHandler.push({ correlationId: getContext().correlationId, traceId: currentTraceId() });
          await c.handler(m);
        },
      }),
    );
    const subject = deviceSubject(bus.naming, 'presence', 'hdr', 'd1');
    await context.with(trace.setSpanContext(context.active(), spanCtx), () =>
      runWithContext({ correlationId: 'corr-1' }, () =>
        publish(bus, subject, { state: 'online' }, { msgId: 'hdr-1' }),
      ),
    );
    await waitFor(() => c.seen.length === 1);
    const m = c.seen[0]!;
    expect(m.subject).toBe(subject);
    expect(m.msgId).toBe('hdr-1');
    expect(m.headers[HEADERS.correlationId]).toBe('corr-1');
    expect(m.headers.traceparent).toBe(`00-${traceId}-b7ad6b7169203331-01`);
    expect(m.json()).toEqual({ state: 'online' });
    expect(inHandler[0]).toEqual({ correlationId: 'corr-1', traceId });
  });

  it('drops a repeated Nats-Msg-Id within the duplicate window', async () => {
    const subject = deviceSubject(bus.naming, 'presence', 'dup', 'd1');
    const first = await publish(bus, subject, { n: 1 }, { msgId: 'dup-1' });
    const again = await publish(bus, subject, { n: 2 }, { msgId: 'dup-1' });
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(first.seq);
  });

  it('publishEvent puts a valid event on its event subject with the event id as msg id', async () => {
    const event = registeredEvent('acme', 'dev-1', 'corr-evt');
    const ack = await publishEvent(bus, event);
    const stored = await bus.jsm.streams.getMessage(ack.stream, { seq: ack.seq });
    expect(ack.stream).toBe(`${ns.toUpperCase()}_EVENTS`);
    expect(stored.subject).toBe(eventSubject(bus.naming, 'acme', 'device', 'registered'));
    expect(stored.header.get(HEADERS.msgId)).toBe(event.id);
    expect(stored.header.get(HEADERS.correlationId)).toBe('corr-evt');
    expect(stored.json()).toEqual(event);
    const repeat = await publishEvent(bus, event);
    expect(repeat.duplicate).toBe(true);
  });

  it('publishEvent refuses an event that breaks its contract', async () => {
    const event = registeredEvent('acme', 'dev-2');
    const broken = { ...event, data: { ...event.data, device_id: 'bad id!' } };
    await expect(publishEvent(bus, broken)).rejects.toBeInstanceOf(InvalidEventError);
  });
});
