// Firmware updates and rollbacks on simulated devices, driven the way a platform would: a real
// MQTT client publishes `firmware.update` / `firmware.rollback` commands on the shared Mosquitto
// (isolated by topic prefix) and watches `cmd/res`, `update_status` and `status`; images come
// from a local node:http server and are signed with an Ed25519 key the devices trust.
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { createLogger } from '@drover/observability';
import { testNamespace, waitFor } from '@drover/testing';
import { type DeviceSimulator, startDeviceSimulator } from '../../src/app';
import { loadSimulatorConfig } from '../../src/config';
import { type OtaFault, otaFault } from '../../src/domain/firmware';
import { planFleet } from '../../src/domain/fleet-plan';
import { createRandom, seedOf } from '../../src/domain/random';

jest.setTimeout(120_000);

const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const FLEET = 8;
const VANISH = 0.15;
const BOOT_LOOP = 0.15;
const faults = {
  failureRate: 0,
  failureRateByVersion: { '3.0.0-bad': 1 },
  badVersionRate: 0.1,
  vanishRate: VANISH,
  bootLoopRate: BOOT_LOOP,
};

type Msg = { topic: string; body: Record<string, unknown> };

describe('device simulator firmware (OTA) over MQTT', () => {
  const ns = testNamespace('ota');
  const tenant = ns;
  const keys = generateKeyPairSync('ed25519');
  const images = new Map<string, Buffer>();
  const requests: string[] = [];
  let server: http.Server;
  let base = '';
  let sim: DeviceSimulator | undefined;
  let platform: MqttClient;
  const seen: Msg[] = [];
  let seed = 1;
  const byFault = new Map<OtaFault, string[]>();

  const root = (id: string) => `${ns}/${tenant}/sensor/${id}`;
  const on = (id: string, channel: string) =>
    seen.filter((m) => m.topic === `${root(id)}/${channel}`).map((m) => m.body);
  const image = (version: string) => {
    const bytes = images.get(version) as Buffer;
    return {
      url: `${base}/fw/${version}`,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
      signature: sign(null, bytes, keys.privateKey).toString('base64'),
      signature_alg: 'ed25519',
    };
  };
  let n = 0;
  const send = async (
    id: string,
    name: string,
    params: Record<string, unknown>,
    cmdId?: string,
  ) => {
    const msgId = cmdId ?? `c${++n}`;
    await platform.publishAsync(
      `${root(id)}/cmd`,
      JSON.stringify({
        msg_id: msgId,
        ts: Date.now(),
        schema_version: 1,
        command: { name, params },
        expires_at: new Date(Date.now() + 120_000).toISOString(),
      }),
      { qos: 1 },
    );
    return msgId;
  };
  const answers = (id: string, cmdId: string) =>
    on(id, 'cmd/res')
      .filter((a) => a.cmd_id === cmdId)
      .map((a) => a.status);
  const updates = (id: string, deploymentId: string) =>
    on(id, 'update_status').filter((u) => u.deployment_id === deploymentId);
  const lastStatus = (id: string) => on(id, 'status').at(-1);
  const waitOnline = (id: string, version: string) =>
    waitFor(
      () => {
        const s = lastStatus(id);
        return s?.state === 'online' && s.firmware_version === version ? s : null;
      },
      { timeoutMs: 30_000, description: `${id} online with ${version}` },
    );
  const device = (fault: OtaFault, i = 0) => {
    const id = byFault.get(fault)?.[i];
    if (!id) throw new Error(`no device with fault ${fault} (seed ${seed})`);
    return id;
  };

  beforeAll(async () => {
    // A seed whose fleet has at least two clean devices and one of each mid-update fault.
    for (; ; seed++) {
      byFault.clear();
      for (const spec of planFleet({ tenant, size: FLEET, seed })) {
        const f = otaFault(faults, '2.0.0', createRandom(seedOf(spec.seed, 'ota', '2.0.0')));
        byFault.set(f, [...(byFault.get(f) ?? []), spec.deviceId]);
      }
      const count = (f: OtaFault) => byFault.get(f)?.length ?? 0;
      if (count('none') >= 4 && count('vanish') >= 1 && count('boot_loop') >= 1) break;
    }
    for (const v of ['2.0.0', '3.0.0-bad']) images.set(v, Buffer.alloc(200_000, v));
    server = http.createServer((req, res) => {
      requests.push(req.url ?? '');
      const bytes = images.get((req.url ?? '').replace('/fw/', ''));
      if (!bytes) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    platform = await mqtt.connectAsync(MQTT_URL, { clean: true, reconnectPeriod: 0 });
    platform.on('message', (topic, payload) => {
      if (payload.length === 0) return;
      seen.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> });
    });
    await platform.subscribeAsync(`${ns}/${tenant}/sensor/#`, { qos: 1 });

    sim = await startDeviceSimulator(
      loadSimulatorConfig({
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
        OPS_PORT: '0',
        SIM_REGISTER: 'false',
        MQTT_URL,
        MQTT_TOPIC_PREFIX: ns,
        FLEET_SIZE: String(FLEET),
        SIM_SEED: String(seed),
        SIM_TENANT: tenant,
        SIM_TELEMETRY_INTERVAL_S: '60',
        // JSON only: the platform client above parses every message as JSON, and a slow run
        // reaches the first telemetry, every fifth of which would be CBOR by default.
        SIM_CBOR_EVERY: '0',
        SIM_RECONNECT_MIN_MS: '50',
        SIM_RECONNECT_MAX_MS: '300',
        SIM_OTA_INSTALL_MS: '200',
        SIM_OTA_VANISH_RATE: String(VANISH),
        SIM_OTA_BOOT_LOOP_RATE: String(BOOT_LOOP),
        SIM_OTA_FAILURE_RATE_BY_VERSION: '3.0.0-bad=1',
        SIM_FIRMWARE_SIGNING_KEY: keys.publicKey.export({ format: 'pem', type: 'spki' }) as string,
      }),
      { logger: silent },
    );
    await sim.up;
  });

  afterAll(async () => {
    await sim?.stop();
    const ids = planFleet({ tenant, size: FLEET, seed }).map((s) => s.deviceId);
    // Fixed client ids with clean=false leave sessions; retained status stays on the broker.
    await Promise.all(
      ids.map(async (clientId) => {
        const c = await mqtt.connectAsync(MQTT_URL, { clientId, clean: true, reconnectPeriod: 0 });
        await c.endAsync();
      }),
    );
    for (const id of ids) {
      for (const channel of ['status', 'update_status']) {
        await platform.publishAsync(`${root(id)}/${channel}`, '', { retain: true, qos: 1 });
      }
    }
    await platform.endAsync();
    await new Promise((resolve) => server.close(resolve));
  });

  it('updates: downloads, verifies, installs, reboots and comes back with the new version', async () => {
    const id = device('none', 0);
    // The fleet is up once it published; the platform's copy of the status arrives a moment later.
    await waitFor(() => lastStatus(id) !== undefined, { timeoutMs: 20_000 });
    expect(lastStatus(id)).toMatchObject({ state: 'online', firmware_version: '1.0.0' });
    const cmdId = await send(id, 'firmware.update', {
      deployment_id: 'dep-1',
      firmware_version: '2.0.0',
      ...image('2.0.0'),
    });
    await waitFor(() => updates(id, 'dep-1').some((u) => u.state === 'succeeded'), {
      timeoutMs: 30_000,
    });
    const states = updates(id, 'dep-1').map((u) => u.state);
    expect(states[0]).toBe('downloading');
    expect(states.filter((s) => s !== 'downloading')).toEqual([
      'downloaded',
      'installing',
      'rebooting',
      'succeeded',
    ]);
    const progress = updates(id, 'dep-1')
      .filter((u) => u.state === 'downloading')
      .map((u) => u.progress as number);
    expect(progress[0]).toBe(0);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(updates(id, 'dep-1').every((u) => u.firmware_version === '2.0.0')).toBe(true);
    // The reboot: the will (offline), then online with the new version.
    const statuses = on(id, 'status').map(
      (s) => `${String(s.state)}:${String(s.firmware_version)}`,
    );
    expect(statuses).toContain('offline:undefined');
    await waitOnline(id, '2.0.0');
    await waitFor(() => answers(id, cmdId).includes('succeeded'));
    expect(answers(id, cmdId)).toEqual(['accepted', 'succeeded']);
    expect(requests.filter((r) => r === '/fw/2.0.0')).toHaveLength(1);
    expect(sim?.devices.find((d) => d.id === id)?.firmwareVersion).toBe('2.0.0');
  });

  it('answers a resent update from memory and an update to the running version at once', async () => {
    const id = device('none', 0);
    const downloads = requests.length;
    const first = on(id, 'cmd/res').find((a) => a.status === 'succeeded')?.cmd_id as string;
    await send(
      id,
      'firmware.update',
      { deployment_id: 'dep-1', firmware_version: '2.0.0', ...image('2.0.0') },
      first,
    );
    await waitFor(() => answers(id, first).length === 3);
    expect(answers(id, first)).toEqual(['accepted', 'succeeded', 'succeeded']);
    const again = await send(id, 'firmware.update', {
      deployment_id: 'dep-1b',
      firmware_version: '2.0.0',
      ...image('2.0.0'),
    });
    await waitFor(() => answers(id, again).includes('succeeded'));
    expect(updates(id, 'dep-1b').map((u) => u.state)).toEqual(['succeeded']);
    expect(requests.length).toBe(downloads);
  });

  it('rolls back to the previous version, ending in rolled_back', async () => {
    const id = device('none', 0);
    const cmdId = await send(id, 'firmware.rollback', {
      deployment_id: 'dep-1',
      firmware_version: '1.0.0',
    });
    await waitFor(() => answers(id, cmdId).includes('succeeded'), { timeoutMs: 30_000 });
    const states = updates(id, 'dep-1')
      .filter((u) => u.firmware_version === '1.0.0')
      .map((u) => u.state);
    expect(states).toEqual(['installing', 'rebooting', 'rolled_back']);
    await waitOnline(id, '1.0.0');
    // Only one other slot: rolling back to a version the device never had is refused.
    const refused = await send(id, 'firmware.rollback', {
      deployment_id: 'dep-1',
      firmware_version: '0.9.0',
    });
    await waitFor(() => answers(id, refused).length > 0);
    expect(answers(id, refused)).toEqual(['rejected']);
  });

  it('fails on a bad SHA-256, a wrong size, a bad signature and a missing image, keeping its version', async () => {
    const id = device('none', 1);
    const good = image('2.0.0');
    const cases = [
      { dep: 'bad-sha', params: { ...good, sha256: 'f'.repeat(64) }, error: /sha256 mismatch/ },
      { dep: 'bad-size', params: { ...good, size: good.size + 1 }, error: /size mismatch/ },
      {
        dep: 'bad-sig',
        params: {
          ...good,
          signature: sign(null, Buffer.from('x'), keys.privateKey).toString('base64'),
        },
        error: /signature/,
      },
      { dep: 'missing', params: { ...good, url: `${base}/fw/nope` }, error: /HTTP 404/ },
      { dep: 'too-big', params: { ...good, size: 1000 }, error: /larger than 1000/ },
    ];
    for (const c of cases) {
      const cmdId = await send(id, 'firmware.update', {
        deployment_id: c.dep,
        firmware_version: '2.0.0',
        ...c.params,
      });
      await waitFor(() => answers(id, cmdId).includes('failed'), { timeoutMs: 20_000 });
      const last = updates(id, c.dep).at(-1);
      expect(last).toMatchObject({ state: 'failed', firmware_version: '2.0.0' });
      expect(String(last?.error)).toMatch(c.error);
    }
    expect(lastStatus(id)).toMatchObject({ state: 'online', firmware_version: '1.0.0' });
  });

  it('refuses bad params and a second update while one runs', async () => {
    const id = device('none', 2);
    const bad = await send(id, 'firmware.update', {
      deployment_id: 'x',
      firmware_version: '2.0.0',
    });
    await waitFor(() => answers(id, bad).length > 0);
    expect(answers(id, bad)).toEqual(['rejected']);
    expect(on(id, 'cmd/res').find((a) => a.cmd_id === bad)?.error).toMatch(/bad params/);
    const first = await send(id, 'firmware.update', {
      deployment_id: 'dep-2',
      firmware_version: '2.0.0',
      ...image('2.0.0'),
    });
    const second = await send(id, 'firmware.update', {
      deployment_id: 'dep-3',
      firmware_version: '2.0.0',
      ...image('2.0.0'),
    });
    await waitFor(() => answers(id, second).length > 0);
    expect(answers(id, second)).toEqual(['rejected']);
    await waitFor(() => answers(id, first).includes('succeeded'), { timeoutMs: 30_000 });
    await waitOnline(id, '2.0.0');
  });

  it('fails a version configured to fail (SIM_OTA_FAILURE_RATE_BY_VERSION)', async () => {
    const id = device('none', 3);
    const cmdId = await send(id, 'firmware.update', {
      deployment_id: 'dep-bad',
      firmware_version: '3.0.0-bad',
      ...image('3.0.0-bad'),
    });
    await waitFor(() => answers(id, cmdId).includes('failed'), { timeoutMs: 30_000 });
    expect(
      updates(id, 'dep-bad')
        .map((u) => u.state)
        .filter((s) => s !== 'downloading'),
    ).toEqual(['downloaded', 'installing', 'failed']);
    expect(lastStatus(id)).toMatchObject({ state: 'online', firmware_version: '1.0.0' });
  });

  it('vanishes mid-update and reports succeeded then never returns (boot loop)', async () => {
    const gone = device('vanish');
    const looping = device('boot_loop');
    const params = { firmware_version: '2.0.0', ...image('2.0.0') };
    const goneCmd = await send(gone, 'firmware.update', { deployment_id: 'dep-4', ...params });
    const loopCmd = await send(looping, 'firmware.update', { deployment_id: 'dep-4', ...params });
    await waitFor(() => lastStatus(gone)?.state === 'offline', { timeoutMs: 30_000 });
    await waitFor(() => lastStatus(looping)?.state === 'offline', { timeoutMs: 30_000 });
    expect(updates(gone, 'dep-4').at(-1)?.state).toBe('installing');
    expect(answers(gone, goneCmd)).toEqual(['accepted']);
    expect(updates(looping, 'dep-4').at(-1)?.state).toBe('succeeded');
    expect(answers(looping, loopCmd)).toEqual(['accepted', 'succeeded']);
    // A healthy reboot is back within the 300 ms back-off; give these ten times that.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(lastStatus(gone)?.state).toBe('offline');
    expect(lastStatus(looping)?.state).toBe('offline');
    const vanished = sim?.devices
      .filter((d) => d.vanished)
      .map((d) => d.id)
      .sort();
    expect(vanished).toEqual([gone, looping].sort());
    expect(sim?.onlineCount()).toBe(FLEET - 2);
  });
});
