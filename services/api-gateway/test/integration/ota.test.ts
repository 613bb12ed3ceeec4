// /api/v1/firmware and /api/v1/deployments over HTTP against the real registry, command-gateway
// and ota-orchestrator in-process; devices are played at the bus level (update_status and
// presence published straight onto the DEVICE subjects), and the CLI drives one rollout end to
// end through the listening gateway.
import { createHash, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@drover/observability';
import { FIRMWARE_UPLOAD_BUCKET, deviceSubject, type CommandPayload } from '@drover/contracts';
import {
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  createTestDb,
  dropTestDb,
  waitFor,
} from '@drover/testing';
import { JSONCodec, type Subscription } from 'nats';
import { type CommandGateway, startCommandGateway } from '../../../command-gateway/src/app';
import { type OtaOrchestrator, startOtaOrchestrator } from '../../../ota-orchestrator/src/app';
import { run as runCli } from '../../../../packages/cli/src/program';
import { type Stack, startStack } from '../support/stack';

const jc = JSONCodec();
const TENANT = 'acme';
const DEVICES = ['ota-1', 'ota-2', 'ota-3', 'ota-4'];
const silent = () => createLogger({ service: 'test', level: 'silent' });

let stack: Stack;
let commands: CommandGateway;
let ota: OtaOrchestrator;
let base: string;
let dir: string;
let responder: Subscription;
const schemas: string[] = [];
const { privateKey } = generateKeyPairSync('ed25519');
const KEY_ID = 'ota-test-key';
let writer: Record<string, string>;
let reader: Record<string, string>;
let deployer: Record<string, string>;

function signed(image: Buffer, keyId = KEY_ID) {
  return {
    sha256: createHash('sha256').update(image).digest('hex'),
    size: image.length,
    signature: sign(null, image, privateKey).toString('base64'),
    signature_alg: 'ed25519',
    key_id: keyId,
  };
}

function form(fields: Record<string, string | number | string[]>, image?: Buffer): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (Array.isArray(v)) for (const x of v) f.append(k, x);
    else f.append(k, String(v));
  }
  if (image) f.append('image', new Blob([image]), 'fw.bin');
  return f;
}

async function upload(body: FormData | Record<string, unknown>, headers = writer) {
  const json = !(body instanceof FormData);
  const res = await fetch(`${base}/api/v1/firmware`, {
    method: 'POST',
    headers: { ...headers, ...(json && { 'content-type': 'application/json' }) },
    body: json ? JSON.stringify(body) : body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function uploadsLeft(): Promise<number> {
  const os = await stack.bus.js.views.os(stack.bus.naming.stream(FIRMWARE_UPLOAD_BUCKET));
  let n = 0;
  for (const info of await os.list()) if (!info.deleted) n += 1;
  return n;
}

const presence = (id: string, version: string) =>
  stack.bus.nc.publish(
    deviceSubject(stack.bus.naming, 'presence', TENANT, id),
    jc.encode({
      tenant: TENANT,
      device_type: 'sensor',
      device_id: id,
      received_at: new Date().toISOString(),
      state: 'online',
      firmware_version: version,
      hardware_model: 'rev-a',
      msg_id: `p-${id}-${version}-${Date.now()}`,
      ts: new Date().toISOString(),
    }),
  );

/** Devices on the bus: every firmware.update succeeds and the device returns on the version. */
function startResponder(): Subscription {
  const sub = stack.bus.nc.subscribe(stack.bus.naming.subject(`iot.cmd.${TENANT}.>`));
  void (async () => {
    for await (const m of sub) {
      const cmd = jc.decode(m.data) as CommandPayload;
      if (cmd.command.name !== 'firmware.update') continue;
      const id = m.subject.slice(m.subject.lastIndexOf('.') + 1);
      const p = cmd.command.params as { deployment_id: string; firmware_version: string };
      const origin = {
        tenant: TENANT,
        device_type: 'sensor',
        device_id: id,
        received_at: new Date().toISOString(),
      };
      const envelope = { ts: new Date().toISOString(), schema_version: 1 };
      stack.bus.nc.publish(
        deviceSubject(stack.bus.naming, 'cmd_res', TENANT, id),
        jc.encode({
          ...origin,
          ...envelope,
          msg_id: `a-${cmd.msg_id}`,
          cmd_id: cmd.msg_id,
          status: 'accepted',
        }),
      );
      stack.bus.nc.publish(
        deviceSubject(stack.bus.naming, 'update_status', TENANT, id),
        jc.encode({
          ...origin,
          ...envelope,
          msg_id: `u-${cmd.msg_id}`,
          deployment_id: p.deployment_id,
          firmware_version: p.firmware_version,
          state: 'succeeded',
        }),
      );
      presence(id, p.firmware_version);
    }
  })();
  return sub;
}

beforeAll(async () => {
  stack = await startStack('gw_ota');
  dir = mkdtempSync(join(tmpdir(), 'drover-ota-gw-'));
  const common = {
    NATS_URL: TEST_NATS_URL,
    DATABASE_URL: TEST_DATABASE_URL,
    DROVER_NAMESPACE: stack.ns,
    DB_POOL_MAX: 4,
  };
  schemas.push(`${stack.ns}_cmd`, `${stack.ns}_ota`);
  commands = await startCommandGateway(
    { ...common, DB_SCHEMA: `${stack.ns}_cmd` },
    { logger: silent() },
  );
  const publicPem = createPublicKey(privateKey).export({ format: 'pem', type: 'spki' });
  ota = await startOtaOrchestrator(
    {
      ...common,
      DB_SCHEMA: `${stack.ns}_ota`,
      OUTBOX_POLL_MS: 50,
      ROLLOUT_TICK_MS: 100,
      FIRMWARE_TRUSTED_KEYS: JSON.stringify({ [KEY_ID]: publicPem }),
      FIRMWARE_ARTIFACT_DIR: join(dir, 'artifacts'),
      FIRMWARE_HTTP_PORT: 0,
      FIRMWARE_PUBLIC_URL: 'http://127.0.0.1:1',
      FIRMWARE_URL_SECRET: 'a'.repeat(64),
    },
    { logger: silent() },
  );
  base = await stack.app.listen({ port: 0, host: '127.0.0.1' });
  writer = await stack.bearer('firmware:write firmware:read');
  reader = await stack.bearer('firmware:read');
  deployer = await stack.bearer('deployments:write firmware:read');
  const admin = await stack.bearer('devices:write');
  for (const id of DEVICES) {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers: admin,
      payload: {
        device_id: id,
        device_type: 'sensor',
        hardware_id: `hw-${id}`,
        hardware_model: 'rev-a',
      },
    });
    expect(res.statusCode).toBe(201);
    presence(id, '1.0.0');
  }
  // The registry learns each device's version from its presence.
  await waitFor(
    async () => {
      const res = await stack.app.inject({
        url: '/api/v1/devices?firmware_version=1.0.0',
        headers: await stack.bearer('devices:read'),
      });
      return (res.json() as { items: unknown[] }).items.length === DEVICES.length;
    },
    { timeoutMs: 20_000 },
  );
  responder = startResponder();
}, 90_000);

afterAll(async () => {
  responder?.unsubscribe();
  await ota?.stop();
  await commands?.stop();
  for (const schema of schemas) await dropTestDb(await createTestDb(schema), schema);
  const os = await stack.bus.js.views.os(stack.bus.naming.stream(FIRMWARE_UPLOAD_BUCKET));
  await os.destroy();
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
});

const decl = (version: string) => ({
  version,
  device_type: 'sensor',
  hardware_models: ['rev-a', 'rev-b'],
});

describe('firmware over REST', () => {
  const image = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) % 251));
  let firmwareId = '';

  it('registers a multipart upload streamed through the object store, and lists it', async () => {
    const res = await upload(form({ ...decl('2.0.0'), ...signed(image) }, image));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      version: '2.0.0',
      device_type: 'sensor',
      hardware_models: ['rev-a', 'rev-b'],
      sha256: signed(image).sha256,
      size: image.length,
      key_id: KEY_ID,
    });
    firmwareId = res.body.firmware_id as string;
    await waitFor(async () => (await uploadsLeft()) === 0, { timeoutMs: 10_000 });

    const one = await stack.app.inject({ url: `/api/v1/firmware/${firmwareId}`, headers: reader });
    expect(one.statusCode).toBe(200);
    expect(one.json().firmware_id).toBe(firmwareId);
    const list = await stack.app.inject({
      url: '/api/v1/firmware?device_type=sensor',
      headers: reader,
    });
    expect(list.statusCode).toBe(200);
    expect(
      (list.json() as { items: { firmware_id: string }[] }).items.map((f) => f.firmware_id),
    ).toContain(firmwareId);
  });

  it('refuses the same version again (409) and a bad signature or unknown key (400)', async () => {
    const again = await upload(form({ ...decl('2.0.0'), ...signed(image) }, image));
    expect(again.status).toBe(409);
    expect(again.body.error_code).toBe('firmware_exists');

    const tampered = Buffer.from(image);
    tampered.writeUInt8(image.readUInt8(10) ^ 0xff, 10);
    const bad = await upload(
      form({ ...decl('2.0.1'), ...signed(image), sha256: signed(tampered).sha256 }, tampered),
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error_code).toBe('firmware_bad_signature');
    expect(bad.body.correlation_id).toEqual(expect.any(String));

    const unknown = await upload(form({ ...decl('2.0.2'), ...signed(image, 'nobody') }, image));
    expect(unknown.status).toBe(400);
    expect(unknown.body.error_code).toBe('firmware_unknown_key');

    const mismatch = await upload(form({ ...decl('2.0.3'), ...signed(image), size: 5 }, image));
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error_code).toBe('firmware_size_mismatch');
    // Every refused upload is gone from the bucket.
    await waitFor(async () => (await uploadsLeft()) === 0, { timeoutMs: 10_000 });
  });

  it('refuses a bad form before registering anything', async () => {
    const noImage = await upload(form({ ...decl('3.0.0'), ...signed(image) }));
    expect(noImage.status).toBe(400);
    expect(noImage.body.detail).toMatch(/no image/);
    const unknownField = await upload(
      form({ ...decl('3.0.0'), ...signed(image), colour: 'red' }, image),
    );
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.detail).toMatch(/unknown form field "colour"/);
    const badSha = await upload(form({ ...decl('3.0.0'), ...signed(image), sha256: 'xyz' }, image));
    expect(badSha.status).toBe(400);
    expect(badSha.body.detail).toMatch(/^sha256: /);
    expect(await uploadsLeft()).toBe(0);
    const json = await upload({ ...decl('3.0.0'), ...signed(image) });
    expect(json.status).toBe(400);
    expect(json.body.error_code).toBe('validation_failed');
  });

  it('needs firmware:write to register and firmware:read to read', async () => {
    const res = await upload(form({ ...decl('4.0.0'), ...signed(image) }, image), reader);
    expect(res.status).toBe(403);
    const read = await stack.app.inject({
      url: '/api/v1/firmware',
      headers: await stack.bearer('devices:read'),
    });
    expect(read.statusCode).toBe(403);
    const missing = await stack.app.inject({ url: '/api/v1/firmware/01NOPE', headers: reader });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error_code).toBe('firmware_not_found');
  });
});

describe('deployments over REST', () => {
  const deploy = (body: Record<string, unknown>, headers = deployer) =>
    stack.app.inject({ method: 'POST', url: '/api/v1/firmware/deploy', headers, payload: body });
  const control = (id: string, action: string, payload?: Record<string, unknown>) =>
    stack.app.inject({
      method: 'POST',
      url: `/api/v1/deployments/${id}/${action}`,
      headers: deployer,
      ...(payload && { payload }),
    });

  it('creates, reads, pauses, resumes and aborts a deployment', async () => {
    const image = Buffer.from('pause-me firmware image');
    expect((await upload(form({ ...decl('2.1.0'), ...signed(image) }, image))).status).toBe(201);
    // A long soak: the deployment stays running after its first stage.
    const res = await deploy({
      version: '2.1.0',
      device_type: 'sensor',
      target: { device_ids: ['ota-1', 'ota-2'] },
      rollout_config: { stages: [50, 100], soak_duration_minutes: 60, min_sample: 1 },
    });
    expect(res.statusCode).toBe(201);
    const { deployment_id: id, status } = res.json() as { deployment_id: string; status: string };
    expect(['pending', 'running']).toContain(status);
    expect(res.headers.location).toBe(`/api/v1/deployments/${id}`);

    const got = await stack.app.inject({ url: `/api/v1/deployments/${id}`, headers: reader });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({
      deployment_id: id,
      version: '2.1.0',
      rollout_config: { stages: [50, 100], max_error_rate: 0.02 },
      created_by: 'user-1',
    });
    const devices = await stack.app.inject({
      url: `/api/v1/deployments/${id}/devices`,
      headers: reader,
    });
    expect(devices.statusCode).toBe(200);
    expect(
      (devices.json() as { items: { device_id: string }[] }).items.map((d) => d.device_id).sort(),
    ).toEqual(['ota-1', 'ota-2']);

    const paused = await control(id, 'pause', { detail: 'checking a report' });
    expect(paused.statusCode).toBe(200);
    expect(paused.json().status).toBe('paused');
    const twice = await control(id, 'pause');
    expect(twice.statusCode).toBe(409);
    expect(twice.json().error_code).toBe('deployment_invalid_transition');
    const resumed = await control(id, 'resume');
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json().status).toBe('running');
    const aborted = await control(id, 'abort');
    expect(aborted.statusCode).toBe(200);
    expect(aborted.json().status).toBe('aborted');
    const list = await stack.app.inject({
      url: '/api/v1/deployments?status=aborted',
      headers: reader,
    });
    expect(
      (list.json() as { items: { deployment_id: string }[] }).items.map((d) => d.deployment_id),
    ).toContain(id);
  });

  it('refuses an unknown version, an unknown deployment and a missing scope', async () => {
    const unknown = await deploy({
      version: '9.9.9',
      device_type: 'sensor',
      target: { device_ids: ['ota-1'] },
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error_code).toBe('firmware_not_found');
    const bad = await deploy({ version: '2.1.0', device_type: 'sensor', target: {}, extra: 1 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error_code).toBe('validation_failed');
    const noScope = await deploy(
      { version: '2.1.0', device_type: 'sensor', target: { device_ids: ['ota-1'] } },
      reader,
    );
    expect(noScope.statusCode).toBe(403);
    const missing = await stack.app.inject({ url: '/api/v1/deployments/01NOPE', headers: reader });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error_code).toBe('deployment_not_found');
    const missingControl = await control('01NOPE', 'rollback');
    expect(missingControl.statusCode).toBe(404);
  });
});

describe('the CLI against the gateway', () => {
  it('signs and uploads with drover firmware, then rollout create --watch reaches completed', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'drover-ota-cli-'));
    try {
      writeFileSync(join(repo, 'pnpm-workspace.yaml'), '');
      const key = privateKey.export({ format: 'pem', type: 'pkcs8' });
      writeFileSync(join(repo, 'release.pem'), key);
      writeFileSync(join(repo, 'fw.bin'), Buffer.from('a good firmware, 5.0.0'));
      const token = (writer.authorization ?? '').replace('Bearer ', '');
      const deployToken = (deployer.authorization ?? '').replace('Bearer ', '');
      let out = '';
      let err = '';
      const io = {
        stdout: (t: string) => {
          out += t;
        },
        stderr: (t: string) => {
          err += t;
        },
        env: { DROVER_API: base },
        cwd: repo,
      };
      const up = await runCli(
        [
          'firmware',
          'upload',
          'fw.bin',
          '--version',
          '5.0.0',
          '--device-type',
          'sensor',
          '--hardware-model',
          'rev-a',
          '--key',
          'release.pem',
          '--key-id',
          KEY_ID,
          '--token',
          token,
          '--json',
        ],
        io,
      );
      expect({ up, err, out }).toEqual({ up: 0, err: '', out: expect.any(String) });
      expect(JSON.parse(out)).toMatchObject({ version: '5.0.0', key_id: KEY_ID });

      out = '';
      const code = await runCli(
        [
          'rollout',
          'create',
          '--version',
          '5.0.0',
          '--device-type',
          'sensor',
          '--device',
          DEVICES.join(','),
          '--stages',
          '50,100',
          '--soak',
          '0',
          '--min-sample',
          '1',
          '--watch',
          '--interval',
          '0.2',
          '--token',
          deployToken,
        ],
        io,
      );
      expect({ code, err: err.replace(/deployment \S+ created\n/, '') }).toEqual({
        code: 0,
        err: '',
      });
      expect(out).toContain('stage 2 100%');
      expect(out).toContain(
        `outcome: completed, ${DEVICES.length} of ${DEVICES.length} devices on 5.0.0`,
      );
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  }, 60_000);
});
