// `drover demo` against a stand-in REST API on node:http (the real gateway is exercised by
// the platform's end-to-end tests): the order of calls, the signed uploads, the two rollouts
// and the verdicts.
import { verify, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoDeployBody, demoVersions } from '../../src/commands/demo.command';
import { firmwareKeyPaths } from '../../src/firmware-keys';
import { run } from '../../src/program';
import { captureIo } from '../helpers/capture-io';

interface Call {
  method: string;
  path: string;
  body: string;
}

function deployment(id: string, version: string, status: string) {
  return {
    deployment_id: id,
    firmware_id: `fw-${version}`,
    version,
    device_type: 'sensor',
    status,
    reason: status === 'rolled_back' ? 'error_rate 0.1 > 0.05' : null,
    current_stage: 0,
    stages: [],
    rollout_config: {
      stages: [10, 50, 100],
      soak_duration_minutes: 0.1,
      max_error_rate: 0.05,
      max_offline_rate: 0.05,
      min_sample: 1,
    },
    total_devices: 10,
    attempted: 10,
    succeeded: status === 'completed' ? 10 : 9,
    failed: status === 'completed' ? 0 : 1,
    offline: 0,
    rolled_back: status === 'completed' ? 0 : 9,
    error_rate: 0,
    offline_rate: 0,
    created_at: '2026-11-26T10:00:00Z',
    finished_at: '2026-11-26T10:01:00Z',
  };
}

describe('drover demo', () => {
  let dir: string;
  let server: http.Server;
  let api: string;
  const calls: Call[] = [];
  let online = 3;
  const versions = new Map<string, string>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'drover-demo-'));
    // A repository root of its own: the demo's firmware key is created there, not in the repo.
    writeFileSync(join(dir, 'pnpm-workspace.yaml'), 'packages: []\n');
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('latin1');
        const path = (req.url ?? '').split('?')[0] as string;
        calls.push({ method: req.method ?? '', path, body });
        const json = (status: number, value: unknown) =>
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
        if (path === '/api/v1/devices') {
          json(200, { items: Array.from({ length: online }, () => ({})), next_cursor: null });
        } else if (path === '/api/v1/firmware') {
          const version = /name="version"\r\n\r\n([^\r]+)/.exec(body)?.[1] ?? '?';
          json(201, { firmware_id: `fw-${version}`, version, size: 1024, sha256: 'ab' });
        } else if (path === '/api/v1/firmware/deploy') {
          const { version } = JSON.parse(body) as { version: string };
          const id = `dep-${versions.size + 1}`;
          versions.set(id, version);
          json(201, { deployment_id: id, status: 'pending' });
        } else if (path.startsWith('/api/v1/deployments/')) {
          const id = path.split('/').pop() as string;
          const version = versions.get(id) as string;
          json(
            200,
            deployment(id, version, version.includes('-bad') ? 'rolled_back' : 'completed'),
          );
        } else json(404, { error_code: 'not_found' });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('names a good and a bad version that sort after earlier runs', () => {
    const a = demoVersions(Date.parse('2026-11-26T10:00:00Z'));
    const b = demoVersions(Date.parse('2026-11-26T10:01:00Z'));
    expect(a.bad).toMatch(/^3\.\d+\.1-bad$/);
    expect(a.good.split('.')[1]).not.toBe(b.good.split('.')[1]);
    const body = demoDeployBody(a.good, {
      deviceType: 'sensor',
      stages: [10, 100],
      soak: 0.1,
      maxErrorRate: 0.05,
      interval: 1,
      imageKib: 1,
      timeout: 10,
    });
    expect(body).toMatchObject({
      version: a.good,
      target: { filter: { device_type: 'sensor', connectivity: 'online' } },
      rollout_config: { stages: [10, 100], max_error_rate: 0.05 },
    });
  });

  it('rolls a good firmware out, then watches the bad one roll back', async () => {
    calls.length = 0;
    const io = captureIo(dir, {});
    const code = await run(
      ['demo', '--api', api, '--token', 't', '--interval', '0.1', '--image-kib', '1'],
      io,
    );
    expect(io.err()).toMatch(/done: a good firmware rolled out/);
    expect(code).toBe(0);
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /api/v1/devices',
      'POST /api/v1/firmware',
      'POST /api/v1/firmware/deploy',
      'GET /api/v1/deployments/dep-1',
      'POST /api/v1/firmware',
      'POST /api/v1/firmware/deploy',
      'GET /api/v1/deployments/dep-2',
    ]);
    // The upload is signed with the development firmware key (ed25519 over the image); the
    // public half is derived from the private PEM the demo created.
    const upload = calls[1]?.body as string;
    const image = /filename="[^"]+"\r\nContent-Type: [^\r]+\r\n\r\n([\s\S]*?)\r\n--/.exec(upload);
    const signature = /name="signature"\r\n\r\n([^\r]+)/.exec(upload)?.[1] as string;
    const pem = readFileSync(firmwareKeyPaths(dir).privatePem, 'utf8');
    expect(
      verify(
        null,
        Buffer.from(image?.[1] as string, 'latin1'),
        createPublicKey(pem),
        Buffer.from(signature, 'base64'),
      ),
    ).toBe(true);
    expect(io.out()).toMatch(/rolled_back|completed/);
  });

  it('stops with a clear error when no device is online', async () => {
    online = 0;
    const io = captureIo(dir, {});
    const code = await run(['demo', '--api', api, '--token', 't'], io);
    expect(code).toBe(1);
    expect(io.err()).toMatch(/no sensor device is online: start the platform/);
    online = 3;
  });
});
