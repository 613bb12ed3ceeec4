// /api/v1 commands over HTTP (inject) against the real registry and command-gateway.
import { createLogger } from '@drover/observability';
import { TEST_DATABASE_URL, TEST_NATS_URL, createTestDb, dropTestDb } from '@drover/testing';
import { type CommandGateway, startCommandGateway } from '../../../command-gateway/src/app';
import { type Stack, startStack } from '../support/stack';

let stack: Stack;
let commands: CommandGateway;
let writer: { authorization: string };
let schema: string;

beforeAll(async () => {
  stack = await startStack('gw_commands');
  schema = `${stack.ns}_cmd`;
  commands = await startCommandGateway(
    {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      DROVER_NAMESPACE: stack.ns,
      DB_SCHEMA: schema,
      DB_POOL_MAX: 4,
    },
    { logger: createLogger({ service: 'test', level: 'silent' }) },
  );
  writer = await stack.bearer('devices:write commands:write');
  const res = await stack.app.inject({
    method: 'POST',
    url: '/api/v1/devices',
    headers: writer,
    payload: { device_id: 'c-1', device_type: 'sensor', hardware_id: 'hw-c-1' },
  });
  expect(res.statusCode).toBe(201);
});
afterAll(async () => {
  await commands?.stop();
  const db = await createTestDb(schema);
  await dropTestDb(db, schema);
  await stack.stop();
});

const send = (body: Record<string, unknown>, headers: Record<string, string> = writer) =>
  stack.app.inject({ method: 'POST', url: '/api/v1/devices/c-1/commands', headers, payload: body });

describe('commands', () => {
  it('queues a command for an offline device (202) and reads it back', async () => {
    const res = await send({ name: 'reboot', params: { delay_s: 1 }, timeout_s: 10 });
    expect(res.statusCode).toBe(202);
    const { command_id, status } = res.json();
    expect(status).toBe('queued');
    expect(res.headers.location).toBe(`/api/v1/commands/${command_id}`);
    const got = await stack.app.inject({ url: `/api/v1/commands/${command_id}`, headers: writer });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ command_id, status: 'queued', name: 'reboot', attempts: 0 });
  });

  it('the same Idempotency-Key returns the same command', async () => {
    const headers = { ...writer, 'idempotency-key': 'cmd-key-1' };
    const a = await send({ name: 'reboot' }, headers);
    const b = await send({ name: 'reboot' }, headers);
    expect(a.statusCode).toBe(202);
    expect(b.json().command_id).toBe(a.json().command_id);
  });

  it('refuses an unknown device (404) and an unknown command (404)', async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/devices/nope/commands',
      headers: writer,
      payload: { name: 'reboot' },
    });
    expect(res.statusCode).toBe(404);
    const got = await stack.app.inject({ url: '/api/v1/commands/01NOPE', headers: writer });
    expect(got.statusCode).toBe(404);
    expect(got.json().error_code).toBe('command_not_found');
  });

  it('needs the commands:write scope (403)', async () => {
    const res = await send({ name: 'reboot' }, await stack.bearer('devices:read'));
    expect(res.statusCode).toBe(403);
  });

  it('a group fan-out with the same Idempotency-Key is made once, also after the replay store forgot the key', async () => {
    const devices = stack.app.inject({
      method: 'POST',
      url: '/api/v1/groups',
      headers: writer,
      payload: { group_id: 'fan-g', name: 'fan', device_ids: ['c-1'] },
    });
    expect((await devices).statusCode).toBe(201);
    const fan = (key: string, name = 'reboot') =>
      stack.app.inject({
        method: 'POST',
        url: '/api/v1/groups/fan-g/commands',
        headers: { ...writer, 'idempotency-key': key },
        payload: { name, rate_per_s: 10 },
      });
    const forget = async (key: string) => {
      const keys = await stack.redis.keys(`*idem*${key}`);
      const ours = keys.filter((k) => k.startsWith(stack.ns));
      expect(ours.length).toBeGreaterThan(0);
      await stack.redis.del(...ours);
    };
    const a = await fan('fan-key-1');
    expect(a.statusCode).toBe(202);
    expect(a.json()).toMatchObject({ group_id: 'fan-g', total: 1 });
    const b = await fan('fan-key-1');
    expect(b.json().fanout_id).toBe(a.json().fanout_id);
    await forget('fan-key-1');
    const c = await fan('fan-key-1');
    expect(c.statusCode).toBe(202);
    expect(c.json().fanout_id).toBe(a.json().fanout_id);
    const db = await createTestDb(schema);
    try {
      const n = await db
        .selectFrom('commands' as never)
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('fanout_id' as never, '=', a.json().fanout_id as never)
        .executeTakeFirstOrThrow();
      expect(Number(n.n)).toBe(1);
    } finally {
      await db.destroy();
    }
    // The same key for another command: refused by the command gateway too.
    await forget('fan-key-1');
    const d = await fan('fan-key-1', 'shutdown');
    expect(d.statusCode).toBe(409);
    expect(d.json().error_code).toBe('idempotency_key_reused');
    const e = await fan('fan-key-2');
    expect(e.statusCode).toBe(202);
    expect(e.json().fanout_id).not.toBe(a.json().fanout_id);

    // Its progress is readable where the answer points.
    expect(e.headers.location).toBe(`/api/v1/fanouts/${e.json().fanout_id}`);
    const progress = await stack.app.inject({ url: e.headers.location as string, headers: writer });
    expect(progress.statusCode).toBe(200);
    expect(progress.json()).toMatchObject({
      fanout_id: e.json().fanout_id,
      group_id: 'fan-g',
      total: 1,
      done: false,
    });
    const counts = progress.json().counts as Record<string, number>;
    expect(Object.values(counts).reduce((x, y) => x + y, 0)).toBe(1);
    const missing = await stack.app.inject({ url: '/api/v1/fanouts/nope', headers: writer });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error_code).toBe('fanout_not_found');
  });

  it("lists a device's commands newest first, page by page and by state", async () => {
    const create = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers: writer,
      payload: { device_id: 'c-list', device_type: 'sensor', hardware_id: 'hw-c-list' },
    });
    expect(create.statusCode).toBe(201);
    const ids: string[] = [];
    for (const name of ['one', 'two', 'three']) {
      const res = await stack.app.inject({
        method: 'POST',
        url: '/api/v1/devices/c-list/commands',
        headers: writer,
        payload: { name, expires_in_s: 1 },
      });
      expect(res.statusCode).toBe(202);
      ids.push(res.json().command_id as string);
    }
    const get = (url: string) => stack.app.inject({ url, headers: writer });

    const first = await get('/api/v1/devices/c-list/commands?limit=2');
    expect(first.statusCode).toBe(200);
    expect(first.json().items.map((c: { name: string }) => c.name)).toEqual(['three', 'two']);
    expect(first.json().items[0]).toMatchObject({ device_id: 'c-list', status: 'queued' });
    const cursor = first.json().next_cursor as string;
    expect(cursor).toEqual(expect.any(String));
    const second = await get(`/api/v1/devices/c-list/commands?limit=2&cursor=${cursor}`);
    expect(second.json()).toEqual({
      items: [expect.objectContaining({ name: 'one' })],
      next_cursor: null,
    });

    // The tenant-wide list takes the same filters.
    const byDevice = await get('/api/v1/commands?device_id=c-list&status=queued');
    expect(byDevice.json().items.map((c: { command_id: string }) => c.command_id)).toEqual(
      [...ids].reverse(),
    );
    expect((await get('/api/v1/devices/c-list/commands?status=succeeded')).json()).toEqual({
      items: [],
      next_cursor: null,
    });

    const unknown = await get('/api/v1/devices/nope/commands');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error_code).toBe('device_not_found');
    const badCursor = await get('/api/v1/devices/c-list/commands?cursor=%2F%2F%2F');
    expect(badCursor.statusCode).toBe(400);
    expect(badCursor.json()).toMatchObject({ error_code: 'bad_cursor' });
    const badState = await get('/api/v1/commands?status=stuck');
    expect(badState.statusCode).toBe(400);
    expect(badState.json().correlation_id).toEqual(expect.any(String));
    const forbidden = await stack.app.inject({
      url: '/api/v1/commands',
      headers: await stack.bearer('devices:read'),
    });
    expect(forbidden.statusCode).toBe(403);
  });

  it('answers a long poll once the command is final, or when wait_s has passed', async () => {
    const id = (await send({ name: 'reboot' })).json().command_id as string;
    const poll = (waitS: number) =>
      stack.app.inject({ url: `/api/v1/commands/${id}?wait_s=${waitS}`, headers: writer });

    // Nothing happens to it: the answer comes at wait_s, still queued.
    let t0 = Date.now();
    const waited = await poll(1);
    expect(waited.statusCode).toBe(200);
    expect(waited.json().status).toBe('queued');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);

    // Cancelled while a request may be waiting: it answers cancelled, well before wait_s (that
    // the final event wakes a waiting request is shown in command-waiters.test.ts).
    t0 = Date.now();
    const waiting = poll(20);
    const cancelled = await stack.app.inject({
      method: 'POST',
      url: `/api/v1/commands/${id}/cancel`,
      headers: writer,
    });
    expect(cancelled.statusCode).toBe(200);
    const woken = await waiting;
    expect(woken.json()).toMatchObject({ command_id: id, status: 'cancelled' });
    expect(Date.now() - t0).toBeLessThan(10_000);

    // Final already: no wait at all; out of range or unknown: refused.
    t0 = Date.now();
    expect((await poll(20)).json().status).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(10_000);
    const tooLong = await poll(31);
    expect(tooLong.statusCode).toBe(400);
    const unknown = await stack.app.inject({
      url: '/api/v1/commands/01NOPE?wait_s=5',
      headers: writer,
    });
    expect(unknown.statusCode).toBe(404);
  });

  it('cancels a waiting command (with or without a reason) and a fan-out', async () => {
    const queued = (await send({ name: 'reboot' })).json().command_id as string;
    const cancel = (url: string, payload?: Record<string, unknown>) =>
      stack.app.inject({ method: 'POST', url, headers: writer, ...(payload && { payload }) });
    const res = await cancel(`/api/v1/commands/${queued}/cancel`, { reason: 'changed my mind' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      command_id: queued,
      status: 'cancelled',
      error: 'changed my mind',
    });
    // No body, again: the same cancelled command.
    const again = await cancel(`/api/v1/commands/${queued}/cancel`);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ status: 'cancelled', error: 'changed my mind' });
    const listed = await stack.app.inject({
      url: '/api/v1/devices/c-1/commands?status=cancelled',
      headers: writer,
    });
    expect(listed.json().items.map((c: { command_id: string }) => c.command_id)).toContain(queued);

    const bad = await cancel(`/api/v1/commands/${queued}/cancel`, { why: 'x' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().correlation_id).toEqual(expect.any(String));
    const missing = await cancel('/api/v1/commands/01NOPE/cancel');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error_code).toBe('command_not_found');

    const fan = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/groups/fan-g/commands',
      headers: writer,
      payload: { name: 'reboot', rate_per_s: 1 },
    });
    expect(fan.statusCode).toBe(202);
    // A long poll on the fan-out: not done at wait_s (its device is offline) ...
    const fanPoll = (waitS: number) =>
      stack.app.inject({ url: `${fan.headers.location}?wait_s=${waitS}`, headers: writer });
    let t0 = Date.now();
    expect((await fanPoll(1)).json()).toMatchObject({ total: 1, done: false });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    // ... and done, well before wait_s, once its last command is final (here: cancelled).
    t0 = Date.now();
    const waitingFan = fanPoll(20);
    const stopped = await cancel(`/api/v1/fanouts/${fan.json().fanout_id}/cancel`, {
      reason: 'stop',
    });
    expect(stopped.statusCode).toBe(200);
    expect(stopped.json()).toMatchObject({ total: 1, counts: { cancelled: 1 }, done: true });
    expect((await waitingFan).json()).toMatchObject({ counts: { cancelled: 1 }, done: true });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await fanPoll(31)).statusCode).toBe(400);
    const noFan = await cancel('/api/v1/fanouts/nope/cancel');
    expect(noFan.statusCode).toBe(404);
    expect(noFan.json().error_code).toBe('fanout_not_found');

    // A device's waiting commands, all at once.
    for (let i = 0; i < 2; i++) expect((await send({ name: 'reboot' })).statusCode).toBe(202);
    const purged = await cancel('/api/v1/devices/c-1/commands/cancel', { reason: 'replaced' });
    expect(purged.statusCode).toBe(200);
    expect(purged.json().device_id).toBe('c-1');
    expect(purged.json().cancelled).toBeGreaterThanOrEqual(2);
    expect((await cancel('/api/v1/devices/c-1/commands/cancel')).json().cancelled).toBe(0);
    const noDevice = await cancel('/api/v1/devices/nope/commands/cancel');
    expect(noDevice.statusCode).toBe(404);
    expect(noDevice.json().error_code).toBe('device_not_found');
  });
});
