// The cmd_sent reporter through the bus's JetStream pipeline: the report lands on the DEVICE
// stream with its dedup id and the caller's correlation id, a repeat is absorbed, and a report
// that cannot be published is logged, not thrown (the command did reach the broker); with a
// hold, a report its answer takes is never published, the others after the hold or at a flush.
import { type Bus, HEADERS } from '@drover/bus';
import { deviceSubject } from '@drover/contracts';
import { createLogger, runWithContext } from '@drover/observability';
import { cleanupNamespace, testNamespace, waitFor, withTestBus } from '@drover/testing';
import {
  createCommandSentReporter,
  createSentHold,
  sentKey,
} from '../../src/adapters/nats/command-sent.reporter';

jest.setTimeout(60_000);

describe('cmd_sent reporter', () => {
  const ns = testNamespace('cmdsent');
  let bus: Bus;
  const logger = createLogger({ service: 'test', level: 'silent' });

  beforeAll(async () => {
    bus = await withTestBus(ns);
  });
  afterAll(async () => {
    await cleanupNamespace(ns, { bus });
    await bus.close();
  });

  const address = { tenant: 'acme', deviceId: 'd1', deviceType: 'sensor' };
  const command = Buffer.from(JSON.stringify({ msg_id: 'c-1', name: 'reboot' }));

  it('publishes the report with its dedup id and the context correlation id, once', async () => {
    const report = createCommandSentReporter(bus, bus.naming, logger);
    await runWithContext({ correlationId: 'corr-c-1' }, () => report(address, command));
    await report(address, command);
    const stream = bus.naming.stream('DEVICE');
    const info = await bus.jsm.streams.info(stream);
    expect(info.state.messages).toBe(1);
    const m = await bus.jsm.streams.getMessage(stream, {
      last_by_subj: deviceSubject(bus.naming, 'cmd_sent', 'acme', 'd1'),
    });
    expect(m.header.get(HEADERS.msgId)).toBe('cmd_sent:d1:c-1');
    expect(m.header.get(HEADERS.correlationId)).toBe('corr-c-1');
    expect(m.json()).toMatchObject({ tenant: 'acme', device_id: 'd1', cmd_id: 'c-1' });
  });

  it('logs a report it cannot publish and resolves', async () => {
    const own = await withTestBus(ns, { ensureStreams: false });
    await own.close();
    const warned: object[] = [];
    const spy = Object.create(logger) as typeof logger;
    spy.warn = ((o: object) => warned.push(o)) as typeof logger.warn;
    const report = createCommandSentReporter(own, own.naming, spy);
    await expect(report(address, command)).resolves.toBeUndefined();
    expect(warned).toMatchObject([{ event: 'ingress.cmd_sent_failed', device_id: 'd1' }]);
  });

  it('holds a report for its answer: taken, it is never published; else after the hold', async () => {
    const stream = bus.naming.stream('DEVICE');
    const count = async (deviceId: string) => {
      try {
        await bus.jsm.streams.getMessage(stream, {
          last_by_subj: deviceSubject(bus.naming, 'cmd_sent', 'acme', deviceId),
        });
        return 1;
      } catch (err) {
        if (/no message found/.test(String(err))) return 0;
        throw err;
      }
    };
    const hold = createSentHold(200);
    const report = createCommandSentReporter(bus, bus.naming, logger, hold);
    const cmd = (id: string) => Buffer.from(JSON.stringify({ msg_id: id }));
    const started = Date.now();
    await report({ ...address, deviceId: 'h1' }, cmd('c-h1'));
    await report({ ...address, deviceId: 'h2' }, cmd('c-h2'));
    await report({ ...address, deviceId: 'h3' }, cmd('c-h3'));
    expect(hold.size()).toBe(3);
    // h1's answer came: its ack travels with it.
    expect(hold.take(sentKey('acme', 'h1', 'c-h1'))).toEqual(expect.any(String));
    expect(hold.take(sentKey('acme', 'h1', 'c-h1'))).toBeNull();
    // Another device's id does not take it.
    expect(hold.take(sentKey('acme', 'h9', 'c-h2'))).toBeNull();
    // h2's is published when the hold ends, not before.
    expect(await count('h2')).toBe(0);
    await waitFor(async () => (await count('h2')) === 1, { timeoutMs: 10_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    // h3's went out with its own timer; one held when the ingress stops goes out at once.
    await report({ ...address, deviceId: 'h4' }, cmd('c-h4'));
    await hold.flush();
    expect(await count('h4')).toBe(1);
    expect(hold.size()).toBe(0);
    expect(await count('h1')).toBe(0);
  });
});
