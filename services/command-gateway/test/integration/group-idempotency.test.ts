// create_group_commands with an idempotency key: a retried or racing fan-out returns the first
// one and creates no second set of commands; the key used for another request is refused.
import { rpcRequest } from '@drover/bus';
import { type Fanout } from '@drover/contracts';
import { type Harness, startHarness } from './command.harness';

jest.setTimeout(120_000);

describe('group fan-out idempotency', () => {
  let h: Harness;
  const fanout = (body: Record<string, unknown>) =>
    rpcRequest<Fanout>(
      h.bus,
      'command-gateway',
      'create_group_commands',
      { tenant: h.tenant, group_id: 'grp', name: 'ok', rate_per_s: 50, ...body },
      { timeoutMs: 15_000 },
    );
  const count = async (table: 'fanouts' | 'commands') => {
    const r = await h.gateway.ctx.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  };

  beforeAll(async () => {
    h = await startHarness('fanidem');
    const ids = ['i0', 'i1', 'i2'];
    await h.register(ids);
    await rpcRequest(h.bus, 'device-registry', 'create_group', {
      tenant: h.tenant,
      group_id: 'grp',
      name: 'grp',
      device_ids: ids,
    });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('racing and retried calls with one key make one fan-out', async () => {
    const racing = await Promise.all([1, 2, 3].map(() => fanout({ idempotency_key: 'k-1' })));
    const ids = new Set(racing.map((f) => f.fanout_id));
    expect(ids.size).toBe(1);
    expect(racing[0]).toMatchObject({ total: 3, group_id: 'grp' });
    const retried = await fanout({ idempotency_key: 'k-1' });
    expect(retried.fanout_id).toBe(racing[0]!.fanout_id);
    expect(await count('fanouts')).toBe(1);
    expect(await count('commands')).toBe(3);
  });

  it('another key makes another fan-out; no key makes one per call', async () => {
    const before = await count('commands');
    const other = await fanout({ idempotency_key: 'k-2' });
    const plainA = await fanout({});
    const plainB = await fanout({});
    expect(new Set([other.fanout_id, plainA.fanout_id, plainB.fanout_id]).size).toBe(3);
    expect(await count('commands')).toBe(before + 9);
  });

  it('refuses the key for a different request (409 idempotency_key_reused)', async () => {
    await expect(fanout({ idempotency_key: 'k-1', name: 'other' })).rejects.toMatchObject({
      code: 'idempotency_key_reused',
    });
  });
});
