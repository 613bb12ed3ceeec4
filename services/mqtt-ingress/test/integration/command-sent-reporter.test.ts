// The cmd_sent reporter through the bus's JetStream pipeline: the report lands on the DEVICE
// stream with its dedup id and the caller's correlation id, a repeat is absorbed, and a report
// that cannot be published is logged, not thrown (the command did reach the broker).
import { type Bus, HEADERS } from '@drover/bus';
import { deviceSubject } from '@drover/contracts';
import { createLogger, runWithContext } from '@drover/observability';
import { cleanupNamespace, testNamespace, withTestBus } from '@drover/testing';
import { createCommandSentReporter } from '../../src/adapters/nats/command-sent.reporter';

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
});
