// One device answers every way the protocol allows; the gateway's state, timing and counting
// are checked against real MQTT traffic through the real ingress.
import mqtt from 'mqtt';
import { consumerOpts, JSONCodec } from 'nats';
import { deviceSubject, dlqSubject } from '@drover/contracts';
import { waitFor } from '@drover/testing';
import { type Device, type Harness, TEST_MQTT_URL, startHarness } from './command.harness';

jest.setTimeout(120_000);

const final = (c: { status: string }) =>
  ['succeeded', 'failed', 'rejected', 'timed_out', 'expired', 'dead_lettered'].includes(c.status);

describe('command gateway', () => {
  let h: Harness;
  let d0: Device;

  beforeAll(async () => {
    h = await startHarness('cmd', { RESEND_BASE_MS: 1000 });
    await h.register(['d0', 'd1', 'd2', 'd3', 'd4', 'd5']);
    d0 = await h.connect('d0');
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('a device answer makes it succeeded, with rtt_ms and the result', async () => {
    const { command, created } = await h.create({ device_id: 'd0', name: 'ok', params: { a: 1 } });
    expect(created).toBe(true);
    const done = await h.until(command.command_id, final);
    expect(done).toMatchObject({ status: 'succeeded', result: { echo: { a: 1 } }, attempts: 1 });
    expect(done.rtt_ms).toEqual(expect.any(Number));
    expect(done.rtt_ms!).toBeLessThan(2000);
    expect(await h.metric('drover_commands_total', { outcome: 'succeeded' })).toBeGreaterThan(0);
    expect(await h.metric('drover_command_round_trip_seconds', { outcome: 'succeeded' })).toBe(1);
  });

  it.each([
    ['fail', 'failed', 'boom'],
    ['reject', 'rejected', 'unsupported'],
  ])('answer %s -> %s', async (name, status, error) => {
    const { command } = await h.create({ device_id: 'd0', name });
    expect(await h.until(command.command_id, final)).toMatchObject({ status, error });
  });

  it('the same Idempotency-Key gives one command and one MQTT publish', async () => {
    const watcher = await mqtt.connectAsync(TEST_MQTT_URL, { clientId: `${h.ns}-watch` });
    const seen: string[] = [];
    watcher.on('message', (_t, p) =>
      seen.push((JSON.parse(p.toString()) as { msg_id: string }).msg_id),
    );
    await watcher.subscribeAsync(h.topic('d0', 'cmd'), { qos: 1 });
    try {
      const body = { device_id: 'd0', name: 'ok', idempotency_key: 'key-1' };
      const [a, b] = await Promise.all([h.create(body), h.create(body)]);
      const c = await h.create(body);
      expect(new Set([a.command.command_id, b.command.command_id, c.command.command_id]).size).toBe(
        1,
      );
      expect([a.created, b.created, c.created].filter(Boolean)).toHaveLength(1);
      await h.until(a.command.command_id, final);
      await waitFor(() => seen.includes(a.command.command_id));
      expect(seen.filter((id) => id === a.command.command_id)).toHaveLength(1);
      expect(d0.received.filter((r) => r.msgId === a.command.command_id)).toHaveLength(1);
    } finally {
      await watcher.endAsync();
    }
  });

  it('an offline device gets its queued commands in order when it connects', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await h.create({ device_id: 'd1', name: 'ok', params: { i } })).command.command_id);
    }
    expect((await h.get(ids[0]!)).status).toBe('queued');
    const d1 = await h.connect('d1');
    for (const id of ids) expect((await h.until(id, final)).status).toBe('succeeded');
    expect(d1.received.map((r) => r.msgId)).toEqual(ids);
  });

  it('a command that expired while the device was offline is never sent', async () => {
    const expiring = (await h.create({ device_id: 'd2', name: 'ok', expires_in_s: 1 })).command;
    const expired = await h.until(expiring.command_id, final, 5000);
    expect(expired.status).toBe('expired');
    expect(expired.attempts).toBe(0);
    const later = (await h.create({ device_id: 'd2', name: 'ok' })).command;
    const d2 = await h.connect('d2');
    await h.until(later.command_id, final);
    expect(d2.received.map((r) => r.msgId)).toEqual([later.command_id]);
  });

  it('a silent device -> timed_out no earlier than timeout_s and no later than +1 s', async () => {
    const d3 = await h.connect('d3');
    const { command } = await h.create({ device_id: 'd3', name: 'silent', timeout_s: 2 });
    const out = await h.until(command.command_id, final, 20_000);
    expect(out.status).toBe('timed_out');
    expect(out.sent_at).not.toBeNull();
    const elapsed = Date.parse(out.completed_at!) - Date.parse(out.sent_at!);
    expect(elapsed).toBeGreaterThanOrEqual(2000);
    expect(elapsed).toBeLessThanOrEqual(3000);
    expect(d3.received.length).toBeGreaterThanOrEqual(1);
  });

  it('a broker-ack report slower than timeout_s still times out from sending, not earlier', async () => {
    const d3 = await h.connect('d3');
    const { command } = await h.create({ device_id: 'd3', name: 'silent', timeout_s: 2 });
    // Hold the first write of this command (its cmd_sent report) past the hand-over + timeout_s.
    let held = false;
    h.gateway.reports.hooks.beforeWrite = async (writing) => {
      if (held || !writing.includes(command.command_id)) return;
      held = true;
      await new Promise((r) => setTimeout(r, 2500));
    };
    try {
      const out = await h.until(command.command_id, final, 20_000);
      expect(held).toBe(true);
      expect(out.status).toBe('timed_out');
      expect(out.sent_at).not.toBeNull();
      const elapsed = Date.parse(out.completed_at!) - Date.parse(out.sent_at!);
      expect(elapsed).toBeGreaterThanOrEqual(2000);
      expect(elapsed).toBeLessThanOrEqual(3000);
    } finally {
      delete h.gateway.reports.hooks.beforeWrite;
    }
    expect(d3.received.length).toBeGreaterThanOrEqual(1);
  });

  it('resends with the same msg_id while the device says nothing', async () => {
    await h.restartGateway();
    const d4 = await h.connect('d4', () => undefined);
    // Resends start 1 s apart; the time-out leaves a loaded machine room for a second send.
    const { command } = await h.create({ device_id: 'd4', name: 'silent', timeout_s: 8 });
    await waitFor(() => d4.received.length >= 2, { timeoutMs: 8000 });
    expect(new Set(d4.received.map((r) => r.msgId))).toEqual(new Set([command.command_id]));
    expect((await h.until(command.command_id, final, 15_000)).attempts).toBeGreaterThanOrEqual(2);
  });

  it('ignores and counts duplicate and late answers; refuses unknown ones to the DLQ', async () => {
    const { command } = await h.create({ device_id: 'd0', name: 'dup' });
    await h.until(command.command_id, final);
    await waitFor(
      async () =>
        (await h.metric('drover_command_reports_ignored_total', { reason: 'duplicate' })) >= 1,
    );
    await d0.answer(command.command_id, 'failed', { error: 'too late' });
    await waitFor(
      async () => (await h.metric('drover_command_reports_ignored_total', { reason: 'late' })) >= 1,
    );
    expect((await h.get(command.command_id)).status).toBe('succeeded');

    const sub = await h.bus.js.subscribe(
      h.bus.naming.subject(
        dlqSubject(h.bus.naming, 'DEVICE', 'command-gateway-results').replace(
          `${h.bus.naming.ns}.`,
          '',
        ),
      ),
      consumerOpts().deliverAll().ackNone().orderedConsumer(),
    );
    await d0.answer('01NOSUCHCOMMAND0000000000', 'succeeded');
    await waitFor(
      async () =>
        (await h.metric('drover_command_reports_refused_total', { reason: 'unknown_command' })) >=
        1,
    );
    for await (const m of sub) {
      const record = JSONCodec<{ error_code: string }>().decode(m.data);
      expect(record.error_code).toBe('unknown_command');
      break;
    }
    sub.unsubscribe();
  });

  it('rejects a command for an unknown device', async () => {
    await expect(h.create({ device_id: 'nope', name: 'ok' })).rejects.toMatchObject({
      code: 'device_not_found',
    });
  });
});

/** The device's last DEVICE message of `kind`; rejects when there is none. */
async function lastDeviceMessage(h: Harness, deviceId: string, kind: 'cmd_res' | 'cmd_sent') {
  const m = await h.bus.jsm.streams.getMessage(h.bus.naming.stream('DEVICE'), {
    last_by_subj: deviceSubject(h.bus.naming, kind, h.tenant, deviceId),
  });
  return m.json<{ cmd_id: string; sent_at?: string }>();
}

/** A command the device answers, once final: succeeded, with its broker ack and rtt. */
async function answeredCommand(h: Harness, deviceId: string) {
  const { command } = await h.create({ device_id: deviceId, name: 'ok' });
  const done = await h.until(command.command_id, final);
  expect(done.status).toBe('succeeded');
  expect(done.sent_at).toEqual(expect.any(String));
  expect(done.rtt_ms).toEqual(expect.any(Number));
  return done;
}

/** A harness whose ingress holds broker acks `holdMs`, with one connected device. */
function harnessWithHold(holdMs: string, deviceId: string): () => Harness {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(`cmdhold${holdMs}`, {}, { COMMAND_SENT_HOLD_MS: holdMs });
    await h.register([deviceId]);
    await h.connect(deviceId);
  });
  afterAll(async () => {
    await h?.stop();
  });
  return () => h;
}

describe('a broker ack that rides on the answer', () => {
  // A long hold: even on a loaded machine the device's answer comes within it.
  const harness = harnessWithHold('1000', 'r0');

  it('is sent_at of the command, and no cmd_sent report of its own is published', async () => {
    const h = harness();
    const done = await answeredCommand(h, 'r0');
    const answer = await lastDeviceMessage(h, 'r0', 'cmd_res');
    expect(answer.cmd_id).toBe(done.command_id);
    expect(Date.parse(answer.sent_at!)).toBe(Date.parse(done.sent_at!));
    await expect(lastDeviceMessage(h, 'r0', 'cmd_sent')).rejects.toThrow(/no message found/);
  });
});

describe('a broker ack reported on its own (COMMAND_SENT_HOLD_MS=0)', () => {
  const harness = harnessWithHold('0', 'n0');

  it('is a cmd_sent report, and the answer carries no sent_at', async () => {
    const h = harness();
    const done = await answeredCommand(h, 'n0');
    const report = await lastDeviceMessage(h, 'n0', 'cmd_sent');
    expect(report.cmd_id).toBe(done.command_id);
    expect(Date.parse(report.sent_at!)).toBe(Date.parse(done.sent_at!));
    expect((await lastDeviceMessage(h, 'n0', 'cmd_res')).sent_at).toBeUndefined();
  });
});
