// The other directions of the bridge: status → presence on DEVICE, and COMMANDS → devices
// (commands QoS 1 on <root>/cmd, desired state retained on <root>/state/desired).
import { publish } from '@drover/bus';
import { commandSubject, desiredSubject, deviceSubject } from '@drover/contracts';
import { waitFor } from '@drover/testing';
import { type Pipeline, startPipeline } from './pipeline.harness';

jest.setTimeout(120_000);

describe('ingress device traffic and commands', () => {
  let p: Pipeline;

  beforeAll(async () => {
    p = await startPipeline({ label: 'traffic', devices: 1, ingestEnv: false });
  });
  afterAll(async () => {
    await p?.stop();
  });

  it('republishes status as presence on the DEVICE stream', async () => {
    const device = await p.connectDevice('d0');
    const status = {
      msg_id: 's1',
      ts: Date.now(),
      schema_version: 1,
      state: 'online',
      firmware_version: '1.2.3',
    };
    await device.publishAsync(p.topic('d0', 'status'), JSON.stringify(status), { qos: 1 });
    const subject = deviceSubject(p.bus.naming, 'presence', p.tenant, 'd0');
    const msg = await waitFor(async () => {
      const info = await p.bus.jsm.streams.info(p.bus.naming.stream('DEVICE'), {
        subjects_filter: subject,
      });
      return info.state.subjects?.[subject]
        ? p.bus.jsm.streams.getMessage(p.bus.naming.stream('DEVICE'), { last_by_subj: subject })
        : null;
    });
    expect(msg.json()).toMatchObject({
      tenant: 'acme',
      device_type: 'sensor',
      device_id: 'd0',
      state: 'online',
      firmware_version: '1.2.3',
    });
  });

  it('delivers commands with QoS 1 and desired state retained', async () => {
    const device = await p.connectDevice('d0');
    const received: { topic: string; body: unknown; retain: boolean }[] = [];
    device.on('message', (topic, payload, packet) =>
      received.push({ topic, body: JSON.parse(payload.toString()), retain: packet.retain }),
    );
    await device.subscribeAsync(p.topic('d0', 'cmd'), { qos: 1 });
    const command = {
      msg_id: 'c1',
      ts: Date.now(),
      schema_version: 1,
      command: { name: 'reboot', params: {} },
      expires_at: new Date(Date.now() + 60_000).toISOString(),
    };
    await publish(p.bus, commandSubject(p.bus.naming, p.tenant, 'd0'), command, { msgId: 'c1' });
    await waitFor(() => received.find((r) => r.topic.endsWith('/cmd')));
    expect(received[0]).toEqual({ topic: p.topic('d0', 'cmd'), body: command, retain: false });

    const desired = { state: { led: 'on' }, version: 3 };
    await publish(p.bus, desiredSubject(p.bus.naming, p.tenant, 'd0'), desired, { msgId: 'v3' });
    // Retained: a device subscribing afterwards still gets it.
    const late = await p.connectDevice('d0late');
    const got = new Promise<{ body: unknown; retain: boolean }>((resolve) =>
      late.on('message', (_t, payload, packet) => {
        // The empty retained publish at the end (the cleanup) comes back too: not a state.
        if (payload.length > 0)
          resolve({ body: JSON.parse(payload.toString()), retain: packet.retain });
      }),
    );
    await waitFor(async () => {
      const info = await p.bus.jsm.consumers.info(
        p.bus.naming.stream('COMMANDS'),
        'mqtt-ingress-desired',
      );
      return info.num_pending === 0 && info.num_ack_pending === 0;
    });
    await late.subscribeAsync(p.topic('d0', 'state/desired'), { qos: 1 });
    expect(await got).toEqual({ body: desired, retain: true });
    // Clear the retained message so nothing is left on the shared broker.
    await late.publishAsync(p.topic('d0', 'state/desired'), '', { qos: 1, retain: true });
  });
});
