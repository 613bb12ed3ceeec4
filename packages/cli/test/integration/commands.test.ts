// `drover commands` against the real platform: the api-gateway on a free port, the real
// device-registry and command-gateway behind it, on a fresh namespace, schemas and Redis prefix.
// No device connects, so commands wait (queued) and expire: every state they reach is real.
import {
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  testNamespace,
  withTestBus,
} from '@drover/testing';
import { type RunningGateway, startGateway } from '../../../../services/api-gateway/src/app';
import { loadGatewayConfig } from '../../../../services/api-gateway/src/config';
import {
  type CommandGateway,
  startCommandGateway,
} from '../../../../services/command-gateway/src/app';
import {
  type DeviceRegistry,
  startDeviceRegistry,
} from '../../../../services/device-registry/src/app';
import { createLogger } from '../../../observability/src/logger';
import { devKeyPaths } from '../../src/dev-keys';
import { run } from '../../src/program';
import { captureIo, tempRepo } from '../helpers/capture-io';

jest.setTimeout(60_000);

const silent = () => createLogger({ service: 'cli-test', level: 'silent' });
const ns = testNamespace('cli_cmd');
const schemas = { registry: `${ns}_registry`, commands: `${ns}_commands` };
const repo = tempRepo();
const common = {
  NATS_URL: TEST_NATS_URL,
  DATABASE_URL: TEST_DATABASE_URL,
  DROVER_NAMESPACE: ns,
};
let bus: Awaited<ReturnType<typeof withTestBus>>;
let registry: DeviceRegistry;
let commands: CommandGateway;
let gateway: RunningGateway;
let token: string;

async function drover(args: string[]) {
  const io = captureIo(repo.root, { DROVER_API: gateway.url, DROVER_TOKEN: token });
  const code = await run(args, io);
  return { code, out: io.out(), err: io.err() };
}

beforeAll(async () => {
  bus = await withTestBus(ns);
  registry = await startDeviceRegistry(
    { ...common, REDIS_URL: TEST_REDIS_URL, DB_SCHEMA: schemas.registry, DB_POOL_MAX: 2 },
    { logger: silent() },
  );
  commands = await startCommandGateway(
    { ...common, DB_SCHEMA: schemas.commands, DB_POOL_MAX: 2 },
    { logger: silent() },
  );
  // The token command creates the key pair; the gateway reads its public half, as in npm start.
  const io = captureIo(repo.root);
  const scope = 'devices:write commands:write';
  expect(await run(['token', '--tenant', 'acme', '--scope', scope], io)).toBe(0);
  token = io.out().trim();
  gateway = await startGateway(
    loadGatewayConfig({
      ...common,
      REDIS_URL: TEST_REDIS_URL,
      API_HOST: '127.0.0.1',
      API_PORT: '0',
      AUTH_JWKS_FILE: devKeyPaths(repo.root).jwks,
    }),
    { logger: silent() },
  );
  for (const id of ['cmd-1', 'cmd-2']) {
    const made = await drover([
      'devices',
      'create',
      '--device-type',
      'sensor',
      '--hardware-id',
      id,
      '--device-id',
      id,
    ]);
    expect(made.code).toBe(0);
  }
});

afterAll(async () => {
  await gateway?.close();
  await commands?.stop();
  await registry?.stop();
  await cleanupNamespace(ns, { bus });
  await bus?.close();
  for (const schema of Object.values(schemas)) {
    const db = await createTestDb(schema);
    await dropTestDb(db, schema);
  }
  repo.remove();
});

describe('drover commands against the real gateways and registry', () => {
  it("sends, then lists a device's commands and filters them by state", async () => {
    const sent: string[] = [];
    for (const name of ['reboot', 'ping']) {
      const res = await drover(['commands', 'send', 'cmd-1', name, '--params', '{"n":1}']);
      expect(res.code).toBe(0);
      expect(res.out).toMatch(/^[0-9A-Z]{26}\n$/);
      sent.push(res.out.trim());
    }
    const table = await drover(['commands', 'list', '--device', 'cmd-1']);
    expect(table.code).toBe(0);
    const lines = table.out.split('\n').filter((l) => /[0-9A-Z]{26}/.test(l));
    expect(lines.map((l) => /[0-9A-Z]{26}/.exec(l)?.[0])).toEqual([...sent].reverse());
    expect(lines[0]).toMatch(/│ cmd-1 +│ ping +│ queued +│ 0 /);

    const first = await drover(['commands', 'list', '--device', 'cmd-1', '--limit', '1']);
    expect(first.err).toMatch(/^more: --cursor \S+ \(or --all\)\n$/);
    const all = await drover([
      'commands',
      'list',
      '--device',
      'cmd-1',
      '--limit',
      '1',
      '--all',
      '--json',
    ]);
    const page = JSON.parse(all.out) as { items: Array<{ command_id: string }>; next_cursor: null };
    expect(page.items.map((c) => c.command_id)).toEqual([...sent].reverse());
    expect(page.next_cursor).toBeNull();

    const withdrawn = await drover(['commands', 'cancel', sent[0]!, '--reason', 'typo']);
    expect(withdrawn.code).toBe(0);
    expect(withdrawn.out).toMatch(/status\s+│ cancelled/);
    expect(withdrawn.out).toMatch(/error\s+│ typo/);
    expect(withdrawn.out).toMatch(/params\s+│ \{"n":1\}/);
    const listedCancelled = await drover([
      'commands',
      'list',
      '--device',
      'cmd-1',
      '--status',
      'cancelled',
      '--json',
    ]);
    expect(
      JSON.parse(listedCancelled.out).items.map((c: { command_id: string }) => c.command_id),
    ).toEqual([sent[0]]);

    const rest = await drover(['commands', 'cancel-device', 'cmd-1']);
    expect(rest.out).toBe('1 command(s) of cmd-1 cancelled\n');

    const none = await drover(['commands', 'list', '--device', 'cmd-1', '--status', 'succeeded']);
    expect(none.out).toBe('(none)\n');
    const unknown = await drover(['commands', 'list', '--device', 'nope']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.err).toMatch(/^device_not_found: /);
    const badState = await drover(['commands', 'list', '--status', 'stuck']);
    expect(badState.code).not.toBe(0);
    expect(badState.err).toMatch(/stuck/);
  });

  it('send --wait answers once the command is final (a long poll, not a fixed poll)', async () => {
    const t0 = Date.now();
    const res = await drover(['commands', 'send', 'cmd-2', 'ping', '--expires-in', '1', '--wait']);
    expect(res.code).toBe(0);
    expect(res.out).toMatch(/status\s+│ expired/);
    // Expired one second after it was made, answered at once.
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('fans out to a group, waits (long polls) until every command is final, shows progress', async () => {
    const made = await gateway.app.inject({
      method: 'POST',
      url: '/api/v1/groups',
      headers: { authorization: `Bearer ${token}` },
      payload: { group_id: 'cmd-g', name: 'cli', device_ids: ['cmd-1', 'cmd-2'] },
    });
    expect(made.statusCode).toBe(201);

    // Nobody is online: both commands wait and expire after a second, a final state.
    const fan = await drover([
      'commands',
      'fanout',
      'cmd-g',
      'reboot',
      '--expires-in',
      '1',
      '--rate',
      '50',
      '--wait',
      '--json',
    ]);
    expect(fan.code).toBe(0);
    const f = JSON.parse(fan.out) as {
      fanout_id: string;
      total: number;
      counts: object;
      done: boolean;
    };
    expect(f).toMatchObject({ total: 2, counts: { expired: 2 }, done: true });

    const shown = await drover(['commands', 'progress', f.fanout_id]);
    expect(shown.code).toBe(0);
    expect(shown.out).toMatch(/counts\s+│ expired=2/);
    expect(shown.out).toMatch(/done\s+│ true/);
    const members = await drover(['commands', 'list', '--fanout', f.fanout_id, '--json']);
    const page = JSON.parse(members.out) as { items: Array<{ device_id: string; status: string }> };
    expect(page.items.map((c) => [c.device_id, c.status]).sort()).toEqual([
      ['cmd-1', 'expired'],
      ['cmd-2', 'expired'],
    ]);

    // progress --wait on a fan-out still going: it answers once every command is final.
    const going = await drover(['commands', 'fanout', 'cmd-g', 'reboot', '--expires-in', '1']);
    expect(going.code).toBe(0);
    const waited = await drover(['commands', 'progress', going.out.trim(), '--wait', '--json']);
    expect(waited.code).toBe(0);
    expect(JSON.parse(waited.out)).toMatchObject({ total: 2, counts: { expired: 2 }, done: true });

    // Nothing left to withdraw: the counts stay.
    const cancelled = await drover(['commands', 'cancel-fanout', f.fanout_id, '--json']);
    expect(JSON.parse(cancelled.out)).toMatchObject({ counts: { expired: 2 }, done: true });

    const missing = await drover(['commands', 'progress', 'nope']);
    expect(missing.code).not.toBe(0);
    expect(missing.err).toMatch(/^fanout_not_found: /);
  });
});
