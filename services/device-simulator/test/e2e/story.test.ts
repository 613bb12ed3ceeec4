// The whole story end to end, through public interfaces only: the platform runs in-process on
// its own namespace, schemas and a private mTLS Mosquitto (./platform.ts); a fleet of simulated
// devices (the real simulator) provisions itself with bootstrap certificates. The test talks
// only REST (a test JWT) and the CLI: enroll the hardware ids → devices come up online →
// telemetry is queryable → a command round trip succeeds → a signed good firmware rolls out to
// every device → a `-bad` one, failed by the simulator on some devices, is rolled back.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '@drover/observability';
import { waitFor } from '@drover/testing';
import { run as runCli } from '../../../../packages/cli/src/program';
import { type DeviceSimulator, startDeviceSimulator } from '../../src/app';
import { loadSimulatorConfig } from '../../src/config';
import { otaFault } from '../../src/domain/firmware';
import { planFleet } from '../../src/domain/fleet-plan';
import { createRandom, seedOf } from '../../src/domain/random';
import { bounded, type Platform, startPlatform } from './platform';

jest.setTimeout(300_000);

const FLEET = 20;
const TENANT = 'acme';
const GOOD = '2.0.0';
const BAD = '2.1.0-bad';
const BAD_RATE = 0.3;
const SCOPES = [
  'provisioning:write',
  'devices:read',
  'telemetry:read',
  'commands:write',
  'firmware:read',
  'firmware:write',
  'deployments:write',
].join(' ');
const logLevel = process.env.TEST_LOG_LEVEL ?? 'silent';

/** The first seed whose fleet fails the bad version on at least two devices (and not all). */
function pickSeed(): number {
  for (let seed = 1; ; seed++) {
    const failing = planFleet({ tenant: TENANT, size: FLEET, seed }).filter(
      (spec) =>
        otaFault(
          {
            failureRate: 0,
            failureRateByVersion: {},
            badVersionRate: BAD_RATE,
            vanishRate: 0,
            bootLoopRate: 0,
          },
          BAD,
          createRandom(seedOf(spec.seed, 'ota', BAD)),
        ) === 'fail',
    ).length;
    if (failing >= 2 && failing < FLEET / 2) return seed;
  }
}

interface DeviceView {
  device_id: string;
  hardware_id: string;
  connectivity: string;
  firmware_version: string | null;
}
interface DeploymentView {
  deployment_id: string;
  status: string;
  reason: string | null;
  total_devices: number;
  succeeded: number;
  failed: number;
  rolled_back: number;
}

describe('the Drover story, end to end', () => {
  const seed = pickSeed();
  const hardwareIds = planFleet({ tenant: TENANT, size: FLEET, seed }).map((s) => s.hardwareId);
  let platform: Platform;
  let sim: DeviceSimulator | undefined;
  let token = '';
  let deviceIds: string[] = [];

  const api = async <T = Record<string, unknown>>(
    method: string,
    url: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${platform.api}/api/v1${url}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const devices = async (query: string) =>
    (await api<{ items: DeviceView[] }>('GET', `/devices?device_type=sensor&limit=100&${query}`))
      .body.items;
  const onVersion = async (version: string) =>
    (await devices(`firmware_version=${encodeURIComponent(version)}&connectivity=online`)).length;
  /** Signs and registers an image with `drover firmware upload` (the release key). */
  const registerFirmware = async (version: string) => {
    let out = '';
    let err = '';
    const image = path.join(platform.dir, `fw-${version}.bin`);
    writeFileSync(image, Buffer.alloc(64 * 1024, `story firmware ${version}`));
    const code = await runCli(
      [
        'firmware',
        'upload',
        image,
        '--version',
        version,
        '--device-type',
        'sensor',
        '--key',
        'release.pem',
        '--key-id',
        platform.release.keyId,
        '--token',
        token,
        '--json',
      ],
      {
        stdout: (t: string) => {
          out += t;
        },
        stderr: (t: string) => {
          err += t;
        },
        env: { DROVER_API: platform.api },
        cwd: platform.dir,
      },
    );
    expect({ code, err }).toEqual({ code: 0, err: '' });
    return JSON.parse(out) as { firmware_id: string; version: string; key_id: string };
  };

  const deploy = async (version: string, maxErrorRate: number) => {
    const res = await api<DeploymentView>('POST', '/firmware/deploy', {
      version,
      device_type: 'sensor',
      target: { device_ids: deviceIds },
      rollout_config: {
        stages: [25, 100],
        soak_duration_minutes: 0.05,
        max_error_rate: maxErrorRate,
        min_devices_per_stage: 1,
        min_sample: 1,
        device_timeout_minutes: 2,
      },
    });
    expect(res.status).toBe(201);
    return res.body.deployment_id;
  };
  const finished = (id: string) =>
    waitFor(
      async () => {
        const d = (await api<DeploymentView>('GET', `/deployments/${id}`)).body;
        return ['completed', 'rolled_back', 'aborted'].includes(d.status) ? d : null;
      },
      { timeoutMs: 150_000, intervalMs: 250, description: `deployment ${id} finished` },
    );

  beforeAll(async () => {
    platform = await startPlatform('story');
    token = await platform.auth.sign({ sub: 'story', tenant: TENANT, scope: SCOPES });
    // The CLI signs inside a Drover checkout: a workspace file and the release key.
    writeFileSync(path.join(platform.dir, 'pnpm-workspace.yaml'), '');
    writeFileSync(
      path.join(platform.dir, 'release.pem'),
      platform.release.privateKey.export({ format: 'pem', type: 'pkcs8' }),
    );
  });

  afterAll(async () => {
    try {
      if (sim) await bounded('the simulator', sim.stop());
    } finally {
      await platform?.stop();
    }
  });

  it('enrolls the fleet hardware ids over REST', async () => {
    const res = await api('POST', '/enrollments', {
      device_type: 'sensor',
      hardware_ids: hardwareIds,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ kind: 'individual', hardware_id_count: FLEET });
  });

  it('brings the devices up: provisioned with bootstrap certificates, online in the registry', async () => {
    sim = await startDeviceSimulator(
      loadSimulatorConfig({
        LOG_LEVEL: logLevel,
        OPS_PORT: '0',
        // The platform learns the devices from provisioning only.
        SIM_REGISTER: 'false',
        SIM_WORKERS: '0',
        FLEET_SIZE: String(FLEET),
        SIM_SEED: String(seed),
        SIM_TENANT: TENANT,
        SIM_PROVISIONING: 'true',
        SIM_PROVISIONING_URL: `mqtts://127.0.0.1:${platform.broker.ports.provisioning}`,
        SIM_BROKER_CA_FILE: platform.broker.files.caFile,
        SIM_TELEMETRY_INTERVAL_S: '1',
        // A rebooted device reconnects no sooner than 3 s: the registry orders a last will by
        // the ingress' receive time and the next online status by the device clock, so an
        // online status sent before the will got through the ingress (its lag on a loaded
        // machine) is dropped as out of order and the device stays offline on its old version.
        SIM_RECONNECT_MIN_MS: '3000',
        SIM_RECONNECT_MAX_MS: '5000',
        SIM_REANNOUNCE_AFTER_PROVISIONING_MS: '2000',
        SIM_FIRMWARE_VERSION: '1.0.0',
        SIM_OTA_INSTALL_MS: '200',
        SIM_OTA_BAD_VERSION_RATE: String(BAD_RATE),
        SIM_FIRMWARE_SIGNING_KEY: platform.release.publicPem,
      }),
      {
        logger: createLogger({ service: 'sim', level: logLevel }),
        bootstrapCa: platform.broker.pki.bootstrap,
      },
    );
    await sim.up;
    const online = await waitFor(
      async () => {
        const items = await devices('connectivity=online');
        return items.length === FLEET ? items : null;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'the whole fleet online over REST' },
    );
    deviceIds = online.map((d) => d.device_id);
    expect(online.every((d) => d.firmware_version === '1.0.0')).toBe(true);
    // Provisioned devices carry a digest of their hardware id (h-…), never the id itself.
    expect(new Set(online.map((d) => d.hardware_id)).size).toBe(FLEET);
    // Ids come from provisioning, not from the simulator's plan.
    expect(new Set(deviceIds).size).toBe(FLEET);
  });

  it('makes telemetry queryable over REST', async () => {
    const id = deviceIds[0] as string;
    const page = await waitFor(
      async () => {
        const res = await api<{ items: Record<string, unknown>[] }>(
          'GET',
          `/devices/${id}/telemetry?limit=50`,
        );
        return res.status === 200 && res.body.items.length >= 2 ? res.body : null;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'telemetry rows' },
    );
    expect(page.items[0]).toMatchObject({ metrics: { temperature: expect.any(Number) } });
    const latest = await api<Record<string, unknown>>('GET', `/devices/${id}/telemetry/latest`);
    expect(latest.status).toBe(200);
    expect(latest.body).toMatchObject({ metrics: { battery: expect.any(Number) } });
  });

  it('round-trips a command to a device and back to succeeded', async () => {
    const id = deviceIds[1] as string;
    const res = await api<{ command_id: string }>('POST', `/devices/${id}/commands`, {
      name: 'ping',
      params: { n: 42 },
      timeout_s: 60,
    });
    expect(res.status).toBe(202);
    const command = await waitFor(
      async () => {
        const c = await api<{ status: string; result: unknown }>(
          'GET',
          `/commands/${res.body.command_id}`,
        );
        return c.body.status === 'succeeded' ? c.body : null;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'command succeeded' },
    );
    expect(command.result).toEqual({ echo: { name: 'ping', params: { n: 42 } } });
  });

  it('rolls a signed good firmware out to every device (completed)', async () => {
    const fw = await registerFirmware(GOOD);
    expect(fw).toMatchObject({ version: GOOD, key_id: platform.release.keyId });
    const id = await deploy(GOOD, 0.02);
    const done = await finished(id);
    expect(done).toMatchObject({
      status: 'completed',
      total_devices: FLEET,
      succeeded: FLEET,
      failed: 0,
    });
    // Every device rebooted into the new version and says so.
    await waitFor(async () => (await onVersion(GOOD)) === FLEET, {
      timeoutMs: 60_000,
      intervalMs: 250,
      description: `every device online on ${GOOD}`,
    });
  });

  it('rolls a bad firmware back on its error rate', async () => {
    await registerFirmware(BAD);
    const id = await deploy(BAD, 0.05);
    const done = await finished(id);
    expect(done).toMatchObject({ status: 'rolled_back', reason: 'error_rate' });
    expect(done.failed).toBeGreaterThanOrEqual(1);
    // Nobody is left on the bad version: every device that took it was rolled back.
    const left = await api<{ items: { device_id: string; status: string }[] }>(
      'GET',
      `/deployments/${id}/devices?limit=100`,
    );
    expect(left.status).toBe(200);
    const statuses = left.body.items.map((d) => d.status);
    expect(statuses).toHaveLength(FLEET);
    expect(statuses.filter((st) => ['succeeded', 'updating', 'rolling_back'].includes(st))).toEqual(
      [],
    );
    expect(statuses).toContain('rolled_back');
    // The registry learns each device's version from its `online` after the rollback reboot,
    // a moment after the orchestrator counted it: wait for the last one. Statuses have their
    // own ingress connection, so a stale `online` on the bad version is no longer stamped after
    // the rollback's (docs/telemetry.md). A rollback that failed leaves the device on the bad
    // version, and this fails with it (docs/rollouts.md, "Known issues").
    await waitFor(async () => (await onVersion(BAD)) === 0, {
      timeoutMs: 120_000,
      intervalMs: 500,
      description: 'no device online on the bad version',
    });
  });
});
