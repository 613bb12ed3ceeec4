// How the publisher batches telemetry (TELEMETRY_BATCH_MAX > 1), read back from the stream:
// records of one turn grouped per tenant and device type, cut at the record and byte limits, a
// lone record on its device subject, and a batch id that depends on the records (and tenant).
import { type Bus } from '@drover/bus';
import { cleanupNamespace, testNamespace, withTestBus } from '@drover/testing';
import {
  TELEMETRY_BATCH_MAX_BYTES,
  createIngressPublisher,
} from '../../src/adapters/nats/ingress.publisher';
import { type TelemetryRecord } from '../../src/domain/message-router';

jest.setTimeout(60_000);

describe('ingress publisher batching', () => {
  const ns = testNamespace('ipub');
  let bus: Bus;

  beforeAll(async () => {
    bus = await withTestBus(ns);
  });
  afterAll(async () => {
    await cleanupNamespace(ns, { bus });
    await bus.close();
  });

  const record = (tenant: string, type: string, id: string, msg: string, extra = {}) =>
    ({
      tenant,
      device_type: type,
      device_id: id,
      msg_id: msg,
      ts: Date.now(),
      schema_version: 1,
      received_at: new Date().toISOString(),
      metrics: { v: 1, ...extra },
    }) as TelemetryRecord;
  const route = (r: TelemetryRecord) => ({
    kind: 'telemetry' as const,
    msgId: `${r.device_id}:${r.msg_id}`,
    record: r,
  });
  const stored = async () => {
    const info = await bus.jsm.streams.info(bus.naming.stream('TELEMETRY'), {
      subjects_filter: '>',
    });
    const out: { subject: string; msgId: string; body: { batch?: TelemetryRecord[] } }[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq += 1) {
      const m = await bus.jsm.streams.getMessage(bus.naming.stream('TELEMETRY'), { seq });
      out.push({ subject: m.subject, msgId: m.header.get('Nats-Msg-Id'), body: m.json() });
    }
    return out;
  };

  it('groups one turn per tenant and type, cuts at the limit, sends a lone record as is', async () => {
    const pub = createIngressPublisher(bus, bus.naming, { telemetryBatchMax: 3 });
    await Promise.all([
      ...['m1', 'm2', 'm3', 'm4'].map((m) => pub.route(route(record('acme', 'sensor', 'd1', m)))),
      pub.route(route(record('acme', 'pump', 'p1', 'm1'))),
      pub.route(route(record('globex', 'sensor', 'd1', 'm1'))),
      pub.route(route(record('globex', 'sensor', 'd1', 'm2'))),
    ]);
    const msgs = await stored();
    const bySubject = msgs.map((m) => [
      m.subject.slice(ns.length + 1),
      m.body.batch?.map((r) => r.msg_id) ?? 'single',
    ]);
    expect(bySubject).toEqual(
      expect.arrayContaining([
        ['iot.telemetry.acme.sensor._batch', ['m1', 'm2', 'm3']],
        ['iot.telemetry.acme.sensor.d1', 'single'],
        ['iot.telemetry.acme.pump.p1', 'single'],
        ['iot.telemetry.globex.sensor._batch', ['m1', 'm2']],
      ]),
    );
    expect(msgs).toHaveLength(4);
    const single = msgs.find((m) => m.subject.endsWith('.acme.pump.p1'));
    expect(single?.msgId).toBe('p1:m1');
    // Same device and message ids in two tenants: two batch ids, nothing deduplicated away.
    const ids = msgs.filter((m) => m.body.batch).map((m) => m.msgId);
    expect(new Set(ids).size).toBe(2);
    expect(ids.every((id) => id.startsWith('batch:'))).toBe(true);

    // The same records in the same grouping again: a JetStream duplicate, nothing stored.
    await Promise.all(
      ['m1', 'm2', 'm3'].map((m) => pub.route(route(record('acme', 'sensor', 'd1', m)))),
    );
    expect(await stored()).toHaveLength(4);
  });

  it('cuts a batch before it passes the byte limit', async () => {
    const pub = createIngressPublisher(bus, bus.naming, { telemetryBatchMax: 1000 });
    const before = (await stored()).length;
    const big = 'x'.repeat(Math.floor(TELEMETRY_BATCH_MAX_BYTES / 3));
    await Promise.all(
      ['b1', 'b2', 'b3', 'b4'].map((m) =>
        pub.route(route(record('acme', 'big', 'd9', m, { s: big }))),
      ),
    );
    const added = (await stored()).slice(before);
    expect(added.map((m) => m.body.batch?.length ?? 1)).toEqual([2, 2]);
  });
});
