// create_commands: a batch creates one command per item in one statement, a retried batch
// creates none twice, online devices get theirs at once and offline ones when they connect;
// unknown or decommissioned devices are per-item errors, not a failed batch.
import { rpcRequest } from '@drover/bus';
import { waitFor } from '@drover/testing';
import { type CreateCommandsResponse } from '@drover/contracts';
import { type Harness, startHarness } from './command.harness';

jest.setTimeout(180_000);

describe('create_commands (batch)', () => {
  let h: Harness;
  const batch = (commands: Record<string, unknown>[]) =>
    rpcRequest<CreateCommandsResponse>(
      h.bus,
      'command-gateway',
      'create_commands',
      { tenant: h.tenant, commands },
      { timeoutMs: 30_000 },
    );
  const countCommands = async () => {
    const r = await h.gateway.ctx.db
      .selectFrom('commands')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  };
  const ids = Array.from({ length: 120 }, (_, i) => `b${i}`);

  beforeAll(async () => {
    h = await startHarness('batch');
    await h.register([...ids, 'on0', 'on1', 'off0', 'gone']);
    await rpcRequest(h.bus, 'device-registry', 'decommission_device', {
      tenant: h.tenant,
      device_id: 'gone',
    });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('creates N commands, and a retried batch creates none twice', async () => {
    const items = ids.map((id) => ({
      device_id: id,
      name: 'ok',
      params: { n: id },
      idempotency_key: `k-${id}`,
      device_type: 'sensor',
    }));
    const first = await batch(items);
    expect(first.results).toHaveLength(120);
    expect(first.results.every((r) => r.created && r.command !== null)).toBe(true);
    expect(first.results.map((r) => r.device_id)).toEqual(ids);
    expect(await countCommands()).toBe(120);
    // Retried (with a few new items): the old ones come back as they were, only new ones made.
    const again = await batch([
      ...items,
      { device_id: 'b0', name: 'ok', idempotency_key: 'k-new' },
    ]);
    expect(again.results.slice(0, 120).every((r) => !r.created)).toBe(true);
    expect(again.results.slice(0, 120).map((r) => r.command!.command_id)).toEqual(
      first.results.map((r) => r.command!.command_id),
    );
    expect(again.results[120]).toMatchObject({ created: true, error: null });
    // Racing retries of one batch: still one command per key.
    await Promise.all([1, 2, 3].map(() => batch(items.slice(0, 50))));
    expect(await countCommands()).toBe(121);
  });

  it('sends at once to online devices and parks offline ones until they connect', async () => {
    const on0 = await h.connect('on0');
    const on1 = await h.connect('on1');
    await waitFor(
      async () => {
        const r = await h.gateway.ctx.db
          .selectFrom('device_presence')
          .select('device_id')
          .where('online', '=', true)
          .where('device_id', 'in', ['on0', 'on1'])
          .execute();
        return r.length === 2 ? r : null;
      },
      { timeoutMs: 30_000, description: 'both devices online' },
    );
    const res = await batch([
      { device_id: 'on0', name: 'ok', idempotency_key: 'm-on0' },
      { device_id: 'off0', name: 'ok', idempotency_key: 'm-off0' },
      { device_id: 'on1', name: 'ok', idempotency_key: 'm-on1' },
      { device_id: 'gone', name: 'ok', idempotency_key: 'm-gone' },
      { device_id: 'nobody', name: 'ok', idempotency_key: 'm-nobody' },
    ]);
    const [r0, rOff, r1, rGone, rNobody] = res.results;
    expect(r0!.command!.attempts).toBe(1);
    expect(r1!.command!.attempts).toBe(1);
    expect(rOff!.command).toMatchObject({ attempts: 0, status: 'queued' });
    expect(rGone).toMatchObject({ created: false, command: null });
    expect(rGone!.error!.code).toBe('device_decommissioned');
    expect(rNobody!.error!.status).toBe(404);
    await h.until(r0!.command!.command_id, (c) => c.status === 'succeeded', 30_000);
    await h.until(r1!.command!.command_id, (c) => c.status === 'succeeded', 30_000);
    expect(on0.received.map((c) => c.msgId)).toEqual([r0!.command!.command_id]);
    expect(on1.received.map((c) => c.msgId)).toEqual([r1!.command!.command_id]);
    expect((await h.get(rOff!.command!.command_id)).status).toBe('queued');
    const off0 = await h.connect('off0');
    await h.until(rOff!.command!.command_id, (c) => c.status === 'succeeded', 30_000);
    expect(off0.received).toHaveLength(1);
  });

  it('refuses a batch that repeats a key', async () => {
    await expect(
      batch([
        { device_id: 'b1', name: 'ok', idempotency_key: 'dup' },
        { device_id: 'b2', name: 'ok', idempotency_key: 'dup' },
      ]),
    ).rejects.toMatchObject({ code: 'duplicate_idempotency_key' });
  });
});
