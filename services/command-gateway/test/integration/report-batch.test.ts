// Batched device reports on the real path (devices over MQTT, the real ingress): many answers
// share one read and one write statement, reports of one command in one batch fold in order,
// an unknown command is refused alone, a row changed between read and write is retried, and
// rows the gateway wrote last come from its row cache (checked by the write, never trusted for
// an ignore).
import { sql } from 'kysely';
import { consumerOpts, JSONCodec } from 'nats';
import { dlqSubject } from '@drover/contracts';
import { rpcRequest } from '@drover/bus';
import { waitFor } from '@drover/testing';
import { type CreateCommandsResponse } from '@drover/contracts';
import { runWithContext } from '@drover/observability';
import { type ReportBatchStats } from '../../src/service/report-batcher';
import {
  createPresenceBatcher,
  handleAnswer,
  handleSent,
  releaseDevice,
} from '../../src/service/traffic.service';
import {
  devicesWithWaiting,
  findVersionedMany,
} from '../../src/adapters/postgres/command.repository';
import { type Device, type Harness, startHarness } from './command.harness';

jest.setTimeout(180_000);

const silent = () => undefined;

describe('batched device reports', () => {
  let h: Harness;
  const devices: Device[] = [];
  const batches: { commandIds: string[]; written: string[] }[] = [];

  const db = () => h.gateway.ctx.db;
  const stats = (): ReportBatchStats => ({ ...h.gateway.reports.stats });
  const delta = (before: ReportBatchStats): ReportBatchStats => {
    const now = stats();
    const out = { ...now };
    for (const k of Object.keys(now) as (keyof ReportBatchStats)[]) out[k] = now[k] - before[k];
    return out;
  };
  const statuses = async (ids: string[]) => {
    const rows = await db()
      .selectFrom('commands')
      .select(['command_id', 'status'])
      .where('command_id', 'in', ids)
      .execute();
    return new Map(rows.map((r) => [r.command_id, r.status]));
  };
  /**
   * Once every command shows `status` and no report batch is being applied: a batch's commit
   * is visible before its counters are updated, and the tests read the counters next.
   */
  const untilAll = async (ids: string[], status: string, timeoutMs = 60_000) =>
    waitFor(
      async () => {
        const s = await statuses(ids);
        const shown = ids.every((id) => s.get(id) === status);
        return shown && h.gateway.reports.running === 0 ? true : null;
      },
      { timeoutMs, intervalMs: 50, description: `${ids.length} commands ${status}` },
    );
  const createSilent = async (deviceIds: string[], prefix: string) => {
    const res = await rpcRequest<CreateCommandsResponse>(
      h.bus,
      'command-gateway',
      'create_commands',
      {
        tenant: h.tenant,
        commands: deviceIds.map((device_id, i) => ({
          device_id,
          name: 'silent',
          idempotency_key: `${prefix}-${i}`,
          device_type: 'sensor',
        })),
      },
      { timeoutMs: 30_000 },
    );
    return res.results.map((r) => r.command!.command_id);
  };
  /**
   * Every message in the outbox (`s` subject, `h` headers, `p` payload, `sent`), in publish
   * order: a batch row's messages one by one, in their order.
   */
  const outboxMessages = sql`(
    select o.id, x.n, o.sent_at is not null as sent, x.m->>'s' as subject, x.m->'h' as headers,
      x.m->'p' as payload
    from outbox o cross join lateral (
      select t.n, t.line::jsonb as m
      from string_to_table(o.batch, E'\n') with ordinality as t(line, n)
      where o.batch is not null
      union all
      select 1, jsonb_build_object('s', o.subject, 'h', o.headers, 'p', o.payload)
      where o.batch is null
    ) x
  )`;
  /** The command's events in the outbox (insert order), once all are published. */
  const events = async (commandId: string) =>
    waitFor(
      async () => {
        const r = await sql<{ status: string; subject: string; sent: boolean }>`
          select payload->'data'->>'status' as status, subject, sent
          from ${outboxMessages} m where payload->'data'->>'command_id' = ${commandId}
          order by id, n
        `.execute(db());
        return r.rows.every((e) => e.sent) ? r.rows : null;
      },
      { timeoutMs: 30_000, description: `events of ${commandId} published` },
    );

  beforeAll(async () => {
    // Resends far apart: the silent commands are answered by the tests, not re-sent meanwhile.
    h = await startHarness('rbatch', {
      RESEND_BASE_MS: 60_000,
      RESEND_MAX_MS: 60_000,
      // The events are checked in the outbox, in insert order: keep the sent rows.
      OUTBOX_DELETE_SENT: false,
      // Reports are written as they come (the hold has a test of its own, which sets it).
      REPORT_HOLD_MS: 0,
    });
    const ids = ['d0', 'd1', 'd2', 'd3'];
    await h.register(ids);
    for (const id of ids) devices.push(await h.connect(id, silent));
    await waitFor(
      async () => {
        const r = await db()
          .selectFrom('device_presence')
          .select('device_id')
          .where('online', '=', true)
          .execute();
        return r.length === ids.length ? true : null;
      },
      { timeoutMs: 30_000, description: 'devices online' },
    );
    h.gateway.reports.hooks.onBatch = (b) => batches.push(b);
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('200 answers at once: all succeeded from the row cache, at most one write per batch', async () => {
    const targets = Array.from({ length: 200 }, (_, i) => `d${i % 4}`);
    const ids = await createSilent(targets, 'many');
    await untilAll(ids, 'sent');
    await waitFor(() => devices.every((d) => d.received.length >= 50), { timeoutMs: 30_000 });
    const before = stats();
    await Promise.all(
      ids.map((id, i) => devices[i % 4]!.answer(id, 'succeeded', { result: { i } })),
    );
    await untilAll(ids, 'succeeded');
    const d = delta(before);
    expect(d.reports).toBeGreaterThanOrEqual(200);
    expect(d.rowsWritten).toBe(200);
    expect(d.batches).toBeLessThan(d.reports);
    // The gateway wrote every row last (create, broker ack): all from its row cache, no read.
    expect(d.cached).toBe(200);
    expect(d.stale).toBe(0);
    expect(d.reads).toBe(0);
    expect(d.writes).toBeLessThanOrEqual(d.batches);
    expect(d.writes).toBeGreaterThan(0);
    // Final rows leave the cache.
    expect(ids.some((id) => h.gateway.ctx.rowCache?.get(id) !== undefined)).toBe(false);
  });

  it('without the row cache: one read per batch', async () => {
    const targets = Array.from({ length: 100 }, (_, i) => `d${i % 4}`);
    const ids = await createSilent(targets, 'uncached');
    await untilAll(ids, 'sent');
    await waitFor(() => devices.every((d) => d.received.length >= 75), { timeoutMs: 30_000 });
    h.gateway.ctx.rowCache?.clear();
    const before = stats();
    await Promise.all(ids.map((id, i) => devices[i % 4]!.answer(id, 'succeeded')));
    await untilAll(ids, 'succeeded');
    const d = delta(before);
    expect(d.rowsWritten).toBe(100);
    expect(d.cached).toBe(0);
    expect(d.reads).toBe(d.batches);
  });

  it('a cached row changed by someone else: the report reads it and applies once', async () => {
    const [id] = await createSilent(['d1'], 'stale');
    await untilAll([id!], 'sent');
    expect(h.gateway.ctx.rowCache?.get(id!)?.status).toBe('sent');
    // Another writer (a replica, the scanner) changes the row: the cached version is old.
    await sql`update commands set error = error where command_id = ${id!}`.execute(db());
    const before = stats();
    await devices[1]!.answer(id!, 'succeeded', { result: { stale: true } });
    await untilAll([id!], 'succeeded');
    const d = delta(before);
    expect(d).toMatchObject({ cached: 1, stale: 1, races: 0, reads: 1, rowsWritten: 1 });
    const evs = await events(id!);
    expect(evs.filter((e) => e.status === 'succeeded')).toHaveLength(1);
    expect(await h.get(id!)).toMatchObject({ status: 'succeeded', result: { stale: true } });
  });

  it('a report ignored on a cached row is decided again on the read row', async () => {
    const [id] = await createSilent(['d1'], 'ignored');
    await untilAll([id!], 'sent');
    await devices[1]!.answer(id!, 'accepted');
    await untilAll([id!], 'accepted');
    expect(h.gateway.ctx.rowCache?.get(id!)?.status).toBe('accepted');
    // The row moved on without this gateway (as a time-out by another replica would).
    await sql`update commands set status = 'timed_out', completed_at = now()
              where command_id = ${id!}`.execute(db());
    const counted = (reason: string) =>
      h.metric('drover_command_reports_ignored_total', { kind: 'cmd_res', reason });
    const [late, duplicate] = [await counted('late'), await counted('duplicate')];
    const before = stats();
    await devices[1]!.answer(id!, 'accepted');
    await waitFor(async () => ((await counted('late')) === late + 1 ? true : null), {
      timeoutMs: 30_000,
      description: 'the answer counted late',
    });
    // On the cached `accepted` row it would have been a duplicate.
    expect(await counted('duplicate')).toBe(duplicate);
    expect(delta(before)).toMatchObject({ cached: 1, stale: 1, reads: 1, rowsWritten: 0 });
    expect((await statuses([id!])).get(id!)).toBe('timed_out');
  });

  it('holds a broker ack for the answer that follows (one write); alone, writes it after the hold', async () => {
    const reports = h.gateway.reports;
    reports.options.holdMs = 1500; // long enough to be sure the answer comes within it
    try {
      const [id] = await createSilent(['d2'], 'hold');
      // The broker ack is held: the row is still as created.
      await waitFor(() => (reports.holdingCount === 1 ? true : null), { timeoutMs: 30_000 });
      expect((await statuses([id!])).get(id!)).toBe('queued');
      const before = stats();
      await devices[2]!.answer(id!, 'succeeded', { result: { held: true } });
      await untilAll([id!], 'succeeded');
      // The answer released it at once: both in one write, the events in order.
      expect(delta(before)).toMatchObject({ joined: 1, writes: 1, rowsWritten: 1 });
      const evs = await events(id!);
      expect(evs.map((e) => e.status)).toEqual(['queued', 'sent', 'succeeded']);

      // A device that says nothing: its ack is written once the hold ends, not before.
      const [alone] = await createSilent(['d3'], 'hold-alone');
      const started = Date.now();
      await waitFor(() => (reports.holdingCount === 1 ? true : null), { timeoutMs: 30_000 });
      await untilAll([alone!], 'sent');
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(reports.holdingCount).toBe(0);
    } finally {
      reports.options.holdMs = 0;
    }
  });

  it('a final answer that overtakes the broker ack waits for it: sent_at is kept', async () => {
    const reports = h.gateway.reports;
    await h.register(['off1']);
    // Never connected: the command is parked. Cached as dispatched by this gateway, it is what
    // the gateway holds between its hand-over and the ingress's ack report.
    const [id] = await createSilent(['off1'], 'overtake');
    const [row] = await findVersionedMany(db(), [id!]);
    h.gateway.ctx.rowCache!.set({ ...row!, attempts: 1 });
    reports.options.holdMs = 1500;
    try {
      const answered = handleAnswer(h.gateway.ctx, reports, {
        tenant: h.tenant,
        deviceId: 'off1',
        cmdId: id!,
        status: 'succeeded',
        result: { overtook: true },
      });
      await waitFor(() => (reports.holdingCount === 1 ? true : null), { timeoutMs: 30_000 });
      expect((await statuses([id!])).get(id!)).toBe('queued');
      const sentAt = new Date();
      const acked = handleSent(h.gateway.ctx, reports, {
        tenant: h.tenant,
        deviceId: 'off1',
        cmdId: id!,
        sentAt,
      });
      expect(await Promise.all([acked, answered])).toEqual(['applied', 'applied']);
      const done = await h.get(id!);
      expect(done).toMatchObject({ status: 'succeeded', result: { overtook: true } });
      expect(Date.parse(done.sent_at!)).toBe(sentAt.getTime());
      const evs = await events(id!);
      expect(evs.map((e) => e.status)).toEqual(['queued', 'sent', 'succeeded']);
    } finally {
      reports.options.holdMs = 0;
    }
  });

  it('a broker ack after the final answer (past any hold) still records sent_at, no event', async () => {
    await h.register(['off3']);
    const [id] = await createSilent(['off3'], 'late-ack');
    const report = { tenant: h.tenant, deviceId: 'off3', cmdId: id! };
    expect(
      await handleAnswer(h.gateway.ctx, h.gateway.reports, { ...report, status: 'succeeded' }),
    ).toBe('applied');
    const sentAt = new Date();
    const before = stats();
    expect(await handleSent(h.gateway.ctx, h.gateway.reports, { ...report, sentAt })).toBe(
      'applied',
    );
    expect(delta(before)).toMatchObject({ writes: 1, rowsWritten: 1 });
    const done = await h.get(id!);
    expect(done.status).toBe('succeeded');
    expect(Date.parse(done.sent_at!)).toBe(sentAt.getTime());
    expect((await events(id!)).map((e) => e.status)).toEqual(['queued', 'succeeded']);
    // Once recorded, another ack (a resend's) is late.
    expect(
      await handleSent(h.gateway.ctx, h.gateway.reports, { ...report, sentAt: new Date() }),
    ).toBe('late');
  });

  it('a command released to a device that connected is cached as written', async () => {
    await h.register(['off2']);
    const [id] = await createSilent(['off2'], 'release');
    expect(h.gateway.ctx.rowCache!.get(id!)).toBeUndefined(); // parked, not dispatched
    const waits = async (deviceId: string) =>
      (await devicesWithWaiting(db(), [{ tenant: h.tenant, deviceId }], new Date())).size > 0;
    expect(await waits('off2')).toBe(true);
    expect(await releaseDevice(h.gateway.ctx, h.tenant, 'off2')).toBe(1);
    const cached = h.gateway.ctx.rowCache!.get(id!);
    expect(cached).toMatchObject({ command_id: id, status: 'queued', attempts: 1 });
    expect(cached!.row_version).toMatch(/^[0-9]+$/);
    // Sent now, it waits for its resend time, not for the device: the plain read finds nothing,
    // so connecting again sends nothing (nor does a device that has no commands at all).
    expect(await waits('off2')).toBe(false);
    expect(await waits('never-commanded')).toBe(false);
    expect(await releaseDevice(h.gateway.ctx, h.tenant, 'off2')).toBe(0);
    expect(await releaseDevice(h.gateway.ctx, h.tenant, 'never-commanded')).toBe(0);
    expect(h.gateway.ctx.rowCache!.get(id!)).toMatchObject({ attempts: 1 });
  });

  // Each device's newest presence is stored; only a device that came online with commands
  // waiting gets them.
  it('presence in one batch', async () => {
    await h.register(['pb1', 'pb2', 'pb3']);
    const [waiting] = await createSilent(['pb1'], 'presbatch1');
    const [parked] = await createSilent(['pb3'], 'presbatch3');
    const attempts = async (id: string) =>
      (
        await db()
          .selectFrom('commands')
          .select('attempts')
          .where('command_id', '=', id)
          .executeTakeFirstOrThrow()
      ).attempts;
    expect([await attempts(waiting!), await attempts(parked!)]).toEqual([0, 0]);
    const presences = createPresenceBatcher(h.gateway.ctx, { max: 16, concurrency: 1 });
    const t = Date.now();
    const fact = (deviceId: string, online: boolean, ms: number) =>
      presences.submit({ tenant: h.tenant, deviceId, online, ts: new Date(t + ms) });
    // One turn, one batch: pb3 comes online and goes again; pb2's last will is older than its
    // `online` (it arrived late), so the `online` stays.
    const outcomes = await Promise.all([
      fact('pb1', true, 0),
      fact('pb2', true, 0),
      fact('pb3', true, 0),
      fact('pb3', false, 1),
      fact('pb2', false, -1),
    ]);
    expect(outcomes).toEqual(['stored', 'stored', 'stale', 'stored', 'stale']);
    const rows = await db()
      .selectFrom('device_presence')
      .select(['device_id', 'online'])
      .where('tenant', '=', h.tenant)
      .where('device_id', 'in', ['pb1', 'pb2', 'pb3'])
      .orderBy('device_id')
      .execute();
    expect(rows).toEqual([
      { device_id: 'pb1', online: true },
      { device_id: 'pb2', online: true },
      { device_id: 'pb3', online: false },
    ]);
    // pb1's command was released; pb3 is offline again, so its command still waits.
    expect([await attempts(waiting!), await attempts(parked!)]).toEqual([1, 0]);
    // An `online` older than what is stored changes nothing and releases nothing.
    expect(await fact('pb3', true, -10)).toBe('stale');
    expect(await attempts(parked!)).toBe(0);
  });

  it('accepted then succeeded in one batch: both events, in order; the row ends succeeded', async () => {
    const [id] = await createSilent(['d0'], 'fold');
    await untilAll([id!], 'sent');
    const before = stats();
    const seen = batches.length;
    // A generous window so both answers surely share a batch on a loaded machine.
    h.gateway.reports.options.waitMs = 500;
    try {
      await Promise.all([
        devices[0]!.answer(id!, 'accepted'),
        devices[0]!.answer(id!, 'succeeded', { result: { ok: true } }),
      ]);
      await untilAll([id!], 'succeeded');
    } finally {
      h.gateway.reports.options.waitMs = 0;
    }
    const folded = batches.slice(seen).find((b) => b.commandIds.filter((c) => c === id).length);
    expect(folded!.commandIds.filter((c) => c === id)).toHaveLength(2);
    expect(folded!.written).toEqual([id]);
    expect(delta(before).rowsWritten).toBe(1);
    const evs = await events(id!);
    expect(evs.map((e) => e.status)).toEqual(['queued', 'sent', 'accepted', 'succeeded']);
    expect(await h.get(id!)).toMatchObject({ status: 'succeeded', result: { ok: true } });

    // Published in that order on the stream too.
    const [acc, suc] = [evs[2]!.subject, evs[3]!.subject];
    const common = acc.split('.').filter((part, i) => suc.split('.')[i] === part);
    const sub = await h.bus.js.subscribe(
      h.bus.naming.subject(`${common.join('.')}.>`),
      consumerOpts().deliverAll().ackNone().orderedConsumer(),
    );
    const order: string[] = [];
    for await (const m of sub) {
      const e = JSONCodec<{ data: { command_id: string; status: string } }>().decode(m.data);
      if (e.data.command_id === id) order.push(e.data.status);
      if (order.includes('succeeded')) break;
    }
    sub.unsubscribe();
    expect(order.filter((s) => s === 'accepted' || s === 'succeeded')).toEqual([
      'accepted',
      'succeeded',
    ]);
  });

  it('an unknown command in a batch is refused to the DLQ; the others apply', async () => {
    const ids = await createSilent(['d1', 'd1', 'd1'], 'mixed');
    const [other] = await createSilent(['d2'], 'other');
    await untilAll([...ids, other!], 'sent');
    const refusedBefore = await h.metric('drover_command_reports_refused_total', {
      kind: 'cmd_res',
      reason: 'unknown_command',
    });
    const seen = batches.length;
    const unknown = '01NOSUCHCOMMAND0000000000';
    h.gateway.reports.options.waitMs = 500;
    try {
      await Promise.all([
        devices[1]!.answer(ids[0]!, 'succeeded'),
        devices[1]!.answer(unknown, 'succeeded'),
        devices[1]!.answer(ids[1]!, 'succeeded'),
        // d2's command answered by d1: refused too, and d2's command stays as it was.
        devices[1]!.answer(other!, 'succeeded'),
        devices[1]!.answer(ids[2]!, 'succeeded'),
      ]);
      await untilAll(ids, 'succeeded');
      await waitFor(
        async () =>
          (await h.metric('drover_command_reports_refused_total', {
            kind: 'cmd_res',
            reason: 'unknown_command',
          })) >=
          refusedBefore + 2,
      );
    } finally {
      h.gateway.reports.options.waitMs = 0;
    }
    expect((await statuses([other!])).get(other!)).toBe('sent');
    const shared = batches.slice(seen).find((b) => b.commandIds.includes(unknown));
    expect(shared!.commandIds.length).toBeGreaterThan(1);
    expect(shared!.written.length).toBeGreaterThan(0);

    const sub = await h.bus.js.subscribe(
      h.bus.naming.subject(
        dlqSubject(h.bus.naming, 'DEVICE', 'command-gateway-results').replace(
          `${h.bus.naming.ns}.`,
          '',
        ),
      ),
      consumerOpts().deliverAll().ackNone().orderedConsumer(),
    );
    const codes: string[] = [];
    for await (const m of sub) {
      codes.push(JSONCodec<{ error_code: string }>().decode(m.data).error_code);
      if (codes.length === 2) break;
    }
    sub.unsubscribe();
    expect(codes).toEqual(['unknown_command', 'unknown_command']);
  });

  it('the events of batched reports carry the correlation id of each report', async () => {
    const ids = await createSilent(['d0', 'd1'], 'corr');
    await untilAll(ids, 'sent');
    const answer = (id: string, deviceId: string, correlationId: string) =>
      runWithContext({ correlationId }, () =>
        handleAnswer(h.gateway.ctx, h.gateway.reports, {
          tenant: h.tenant,
          deviceId,
          cmdId: id,
          status: 'succeeded',
        }),
      );
    // One batch, two messages with their own correlation ids.
    const outcomes = await Promise.all([
      answer(ids[0]!, 'd0', 'corr-report-0'),
      answer(ids[1]!, 'd1', 'corr-report-1'),
    ]);
    expect(outcomes).toEqual(['applied', 'applied']);
    const r = await sql<{ id: string; c: string }>`
      select payload->'data'->>'command_id' as id, headers->>'Drover-Correlation-Id' as c
      from ${outboxMessages} m
      where payload->'data'->>'command_id' = any(${ids}) and payload->'data'->>'status' = 'succeeded'
    `.execute(db());
    expect(Object.fromEntries(r.rows.map((row) => [row.id, row.c]))).toEqual({
      [ids[0]!]: 'corr-report-0',
      [ids[1]!]: 'corr-report-1',
    });
  });

  it('a row changed between read and write: the report is retried and applied once', async () => {
    const [id] = await createSilent(['d3'], 'race');
    await untilAll([id!], 'sent');
    // Read from the database (a cached row changed meanwhile is the test above).
    h.gateway.ctx.rowCache?.delete(id!);
    const before = stats();
    let touched = 0;
    h.gateway.reports.hooks.beforeWrite = async (writing) => {
      if (touched > 0 || !writing.includes(id!)) return;
      touched++;
      // Another writer (as the scanner would) changes the row: its version moves on.
      await sql`update commands set error = error where command_id = ${id!}`.execute(db());
    };
    try {
      await devices[3]!.answer(id!, 'succeeded', { result: { raced: true } });
      await untilAll([id!], 'succeeded');
    } finally {
      delete h.gateway.reports.hooks.beforeWrite;
    }
    expect(touched).toBe(1);
    const d = delta(before);
    expect(d.races).toBe(1);
    expect(d.rowsWritten).toBe(1);
    const evs = await events(id!);
    expect(evs.filter((e) => e.status === 'succeeded')).toHaveLength(1);
    expect(await h.get(id!)).toMatchObject({ status: 'succeeded', result: { raced: true } });
  });

  it('full batches flush at once; a command in flight holds its next report (no race)', async () => {
    const [id] = await createSilent(['d2'], 'held');
    await untilAll([id!], 'sent');
    const before = stats();
    const seen = batches.length;
    const { options, hooks } = h.gateway.reports;
    // One report per batch, and the not-full timer far away: only the size flushes.
    options.maxBatch = 1;
    options.waitMs = 1000;
    let held = false;
    hooks.beforeWrite = async (writing) => {
      if (held || !writing.includes(id!)) return;
      held = true;
      // The first batch writes only once the second report waits for it.
      await waitFor(() => h.gateway.reports.waiting > 0, { timeoutMs: 30_000 });
    };
    try {
      await Promise.all([
        devices[2]!.answer(id!, 'accepted'),
        devices[2]!.answer(id!, 'succeeded', { result: { held: true } }),
      ]);
      await untilAll([id!], 'succeeded');
    } finally {
      options.maxBatch = 256;
      options.waitMs = 0;
      delete hooks.beforeWrite;
    }
    expect(held).toBe(true);
    const mine = batches.slice(seen).filter((b) => b.commandIds.includes(id!));
    expect(mine.map((b) => b.commandIds)).toEqual([[id], [id]]);
    const d = delta(before);
    expect(d.races).toBe(0);
    expect(d.rowsWritten).toBe(2);
    const evs = await events(id!);
    expect(evs.map((e) => e.status)).toEqual(['queued', 'sent', 'accepted', 'succeeded']);
  });
});
