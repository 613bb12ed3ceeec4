// The health gate and the refusals: failing firmware is rolled back by itself (error rate,
// offline rate), devices that never confirm are not counted as succeeded, and a deployment
// that should not run is refused before any device is told anything.
import { rpcRequest } from '@drover/bus';
import {
  type CloudEvent,
  type Command,
  type CreateCommandResponse,
  type Deployment,
} from '@drover/contracts';
import { DomainError } from '@drover/service-kit';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTestDb, waitFor } from '@drover/testing';
import { eventTypes, type Harness, type SimDevice, signer, startHarness } from './rollout.harness';
import { type DB } from '../../src/adapters/postgres/schema';
import { MAX_ROLLBACK_RESENDS } from '../../src/domain/rollout-device';
import { handleCommandOutcome } from '../../src/rollout/command-outcome.consumer';
import { type RolloutContext } from '../../src/rollout/rollout.context';

// Device deadlines are generous (a loaded CI machine slows every update hop); minutes per test.
jest.setTimeout(420_000);

const ids = (devices: SimDevice[]) => devices.map((d) => d.id);

async function refusedWith(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return (err as DomainError).code;
  }
  throw new Error('not refused');
}

function rollingBackEvent(h: Harness, id: string) {
  return h.events.find(
    (e) => e.type === 'drover.deployment.rolling_back.v1' && e.data.deployment_id === id,
  ) as CloudEvent<Record<string, number | string>> | undefined;
}

describe('health gate and refusals', () => {
  let h: Harness;
  let failing: SimDevice[];
  let offline: SimDevice[];
  let odd: SimDevice[];

  beforeAll(async () => {
    h = await startHarness('ota_gate');
    failing = await h.fleet(100, (i) => (i % 10 === 3 ? 'fail' : 'healthy'), 'f');
    offline = await h.fleet(
      100,
      (i) => (i % 25 === 5 || i % 25 === 17 ? 'offline' : 'healthy'),
      'o',
    );
    odd = await h.fleet(6, (i) => (['healthy', 'no_reboot', 'silent'] as const)[i % 3]!, 's');
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('refuses before any device is told anything', async () => {
    const target = { device_ids: ids(odd) };
    // Registered while valid; each is then spoiled where the registry keeps it.
    const tampered = await h.register('4.0.0');
    const resigned = await h.register('4.1.0');
    const oldKey = signer('old-key');
    await h.trust([h.release, oldKey]);
    await h.register('4.2.0', { by: oldKey });

    const stored = join(h.firmwareDir, 'objects', 'acme', `${tampered.firmware_id}.bin`);
    const bytes = await readFile(stored);
    bytes[0] = bytes[0]! ^ 0xff;
    await writeFile(stored, bytes);
    expect(await refusedWith(h.deploy({ version: '4.0.0', target }))).toBe(
      'firmware_sha256_mismatch',
    );
    // The key id now names another key: the stored signature no longer verifies.
    const impostor = { ...signer(h.release.keyId) };
    await h.trust([impostor, oldKey]);
    expect(resigned.key_id).toBe(h.release.keyId);
    expect(await refusedWith(h.deploy({ version: '4.1.0', target }))).toBe(
      'firmware_bad_signature',
    );
    // The key was withdrawn from the ring.
    await h.trust([h.release]);
    expect(await refusedWith(h.deploy({ version: '4.2.0', target }))).toBe('firmware_unknown_key');

    await h.register('0.9.0');
    expect(await refusedWith(h.deploy({ version: '0.9.0', target }))).toBe('deployment_downgrade');
    await h.register('2.1.0', { hardwareModels: ['rev-z'] });
    expect(await refusedWith(h.deploy({ version: '2.1.0', target }))).toBe(
      'deployment_hardware_mismatch',
    );
    expect(await refusedWith(h.deploy({ version: '9.9.9', target }))).toBe('firmware_not_found');
    await h.register('2.2.0');
    expect(
      await refusedWith(h.deploy({ version: '2.2.0', target: { filter: { tags_all: ['none'] } } })),
    ).toBe('deployment_empty_target');
    expect(
      await refusedWith(h.deploy({ version: '2.2.0', target: { device_ids: ['nobody'] } })),
    ).toBe('device_not_found');

    const list = await h.rpc<{ items: Deployment[] }>('list_deployments', {});
    expect(list.items).toHaveLength(0);
    expect([...failing, ...offline, ...odd].every((d) => d.updates.length === 0)).toBe(true);
  });

  it('rolls back at the first evaluation past 2 % errors, every updated device told to roll back', async () => {
    await h.register('3.0.0');
    const dep = await h.deploy({
      version: '3.0.0',
      target: { device_ids: ids(failing) },
      rollout_config: { soak_duration_minutes: 0.02, device_timeout_minutes: 1.5 },
    });
    const done = await h.until(dep.deployment_id, (d) => d.status === 'rolled_back', 180_000);
    expect(done.reason).toBe('error_rate');
    const rows = await h.devices(dep.deployment_id);
    // The plan's order is a hash of the deployment id: the stage that first holds a failing
    // device is random. In about 1 run in 20 none of the first 25 devices fails, and then the
    // gate rightly trips only in the last stage.
    const failingIds = new Set(failing.filter((_, i) => i % 10 === 3).map((d) => d.id));
    const first = Math.min(
      ...rows.filter((r) => failingIds.has(r.device_id) && r.stage !== null).map((r) => r.stage!),
    );
    expect(first).toBeLessThanOrEqual(4);
    if (first < 4) expect(done.stages[4]!.started_at).toBeNull();

    const ev = await waitFor(() => rollingBackEvent(h, dep.deployment_id) ?? null, {
      timeoutMs: 10_000,
    });
    const data = ev.data as Record<string, number>;
    expect(data.error_rate).toBeGreaterThan(0.02);
    expect(data.failed).toBeGreaterThan(0);
    // Every stage that completed before was healthy.
    for (const e of h.events.filter(
      (x) =>
        x.type === 'drover.deployment.stage_completed.v1' &&
        x.data.deployment_id === dep.deployment_id,
    )) {
      expect(e.data.error_rate as number).toBeLessThanOrEqual(0.02);
    }

    const received = failing.filter((d) => d.updates.length > 0);
    expect(received.length).toBeGreaterThan(0);
    if (first < 4) expect(received.length).toBeLessThan(100);
    for (const d of received) {
      expect(d.updates).toHaveLength(1);
      // A device that showed itself idle on the new version before its first rollback arrived
      // (e.g. it reported the update's end) is sent the rollback again; the rest get one.
      expect(d.rollbacks.length).toBeGreaterThanOrEqual(1);
      expect(d.rollbacks.length).toBeLessThanOrEqual(1 + MAX_ROLLBACK_RESENDS);
      expect(d.version).toBe('1.0.0');
      expect(rows.find((r) => r.device_id === d.id)!.status).toBe('rolled_back');
    }
    expect(
      failing.filter((d) => d.updates.length === 0).every((d) => d.rollbacks.length === 0),
    ).toBe(true);
    expect(rows.filter((r) => r.status === 'skipped').length).toBe(100 - received.length);
    // The status is visible before its event is published (the outbox, after the commit).
    const types = await waitFor(() => {
      const t = eventTypes(h, dep.deployment_id);
      return t.at(-1) === 'rolled_back' ? t : null;
    });
    expect(types.slice(-2)).toEqual(['rolling_back', 'rolled_back']);
  });

  it('rolls back on the offline rate when 8 % go offline mid-update', async () => {
    await h.register('3.1.0');
    const dep = await h.deploy({
      version: '3.1.0',
      target: { device_ids: ids(offline) },
      rollout_config: { soak_duration_minutes: 0.02, device_timeout_minutes: 1 },
    });
    const rolling = await h.until(
      dep.deployment_id,
      (d) => d.status === 'rolling_back' || d.status === 'rolled_back',
      180_000,
    );
    expect(rolling.reason).toBe('offline_rate');
    expect(rolling.offline_rate).toBeGreaterThan(0.05);
    expect(rolling.error_rate).toBeLessThanOrEqual(0.02);
    // The devices that went away never confirm their rollback: it times out for them.
    const done = await h.until(dep.deployment_id, (d) => d.status === 'rolled_back', 180_000);
    const rows = await h.devices(dep.deployment_id);
    for (const d of offline.filter((x) => x.updates.length > 0)) {
      const row = rows.find((r) => r.device_id === d.id)!;
      expect(['rolled_back', 'rollback_failed']).toContain(row.status);
    }
    expect(done.offline).toBeGreaterThan(0);
    // Every device that stayed away failed its rollback; on a loaded machine an online one can
    // also miss the short rollback deadline of this test, never the other way round.
    expect(rows.filter((r) => r.status === 'rollback_failed').length).toBeGreaterThanOrEqual(
      done.offline,
    );
  });

  it('counts succeeded-but-never-back and silent devices as failed at their deadline', async () => {
    await h.register('3.2.0');
    const dep = await h.deploy({
      version: '3.2.0',
      target: { device_ids: ids(odd) },
      rollout_config: {
        stages: [100],
        soak_duration_minutes: 0.01,
        device_timeout_minutes: 0.75,
        max_error_rate: 1,
        max_offline_rate: 1,
      },
    });
    const done = await h.until(dep.deployment_id, (d) => d.status === 'completed', 180_000);
    expect(done.succeeded).toBe(2);
    expect(done.failed).toBe(4);
    const rows = await h.devices(dep.deployment_id);
    const byId = new Map(rows.map((r) => [r.device_id, r]));
    odd.forEach((d, i) => {
      const row = byId.get(d.id)!;
      if (i % 3 === 0) expect(row.status).toBe('succeeded');
      if (i % 3 === 1) {
        expect(row.status).toBe('failed');
        expect(row.update_state).toBe('succeeded');
        expect(row.error).toBe('reported succeeded but did not come back on 3.2.0');
      }
      if (i % 3 === 2) expect(row).toMatchObject({ status: 'failed', error: 'timeout' });
    });
  });

  it('a refused firmware.update fails its device at once, a cancelled one skips it', async () => {
    const refusing = await h.fleet(3, (i) => (i === 1 ? 'reject' : 'healthy'), 'r');
    const [gone] = await h.fleet(1, () => 'healthy', 'g');
    gone!.vanish();
    const gateway = <T>(op: string, body: Record<string, unknown>) =>
      rpcRequest<T>(h.bus, 'command-gateway', op, { tenant: h.tenant, ...body });
    // The gateway keeps a command for a device it knows is offline (never handed over, so
    // cancellable): wait until a probe command of that device is kept.
    await waitFor(
      async () => {
        const probe = await gateway<CreateCommandResponse>('create_command', {
          device_id: gone!.id,
          name: 'ping',
        });
        return probe.command.attempts === 0 ? true : null;
      },
      { timeoutMs: 30_000, intervalMs: 100, description: 'the gateway sees the device offline' },
    );
    await h.register('3.3.0');
    const dep = await h.deploy({
      version: '3.3.0',
      target: { device_ids: [...ids(refusing), gone!.id] },
      rollout_config: {
        stages: [100],
        soak_duration_minutes: 0.01,
        // Far beyond the wait below: the two must fail on their commands' outcome.
        device_timeout_minutes: 30,
        max_error_rate: 1,
        max_offline_rate: 1,
      },
    });
    const waiting = await waitFor(
      async () =>
        (await h.devices(dep.deployment_id)).find(
          (r) => r.device_id === gone!.id && r.update_command_id !== null,
        ) ?? null,
      { timeoutMs: 60_000, intervalMs: 200, description: 'the update command of the gone one' },
    );
    const cancelled = await gateway<Command>('cancel_command', {
      command_id: waiting.update_command_id,
      reason: 'device retired',
    });
    expect(cancelled.status).toBe('cancelled');

    const done = await h.until(dep.deployment_id, (d) => d.status === 'completed', 120_000);
    // The cancelled one is skipped: outside the rates, as the operator took it out.
    expect(done).toMatchObject({ succeeded: 2, failed: 1 });
    const byId = new Map((await h.devices(dep.deployment_id)).map((r) => [r.device_id, r]));
    expect(byId.get(refusing[1]!.id)).toMatchObject({
      status: 'failed',
      error: 'firmware.update rejected: battery low',
    });
    expect(byId.get(gone!.id)).toMatchObject({
      status: 'skipped',
      error: 'firmware.update cancelled: device retired',
    });
    expect(gone!.updates).toEqual([]);

    // The handler alone. An outcome for a device whose row has no command id yet (marked,
    // the gateway's answer not stored) is pending: retried until the id is there.
    const db = await createTestDb<DB>(h.schema);
    const ctx = {
      db,
      now: () => new Date(),
      notifyOutbox: () => undefined,
      hint: () => undefined,
    } as unknown as RolloutContext;
    const device = refusing[1]!.id; // it never reported progress
    const outcome = {
      tenant: h.tenant,
      deviceId: device,
      commandId: '01JDA19ZQ3M8K2C4E6G8J0M2P4',
      name: 'firmware.update',
      outcome: 'failed' as const,
      error: 'flash full',
    };
    const row = db
      .updateTable('deployment_devices')
      .where('deployment_id', '=', dep.deployment_id)
      .where('device_id', '=', device);
    try {
      expect(await handleCommandOutcome(ctx, outcome)).toBe('ignored');
      expect(await handleCommandOutcome(ctx, { ...outcome, name: 'reboot' })).toBe('ignored');
      // Made to look like a device still waiting for its command id (the deployment is over).
      await row.set({ status: 'updating', error: null, update_command_id: null }).execute();
      expect(await handleCommandOutcome(ctx, outcome)).toBe('pending');
      await row.set({ update_command_id: outcome.commandId }).execute();
      expect(await handleCommandOutcome(ctx, outcome)).toBe('applied');
      const after = await db
        .selectFrom('deployment_devices')
        .select(['status', 'error'])
        .where('deployment_id', '=', dep.deployment_id)
        .where('device_id', '=', device)
        .executeTakeFirstOrThrow();
      expect(after).toEqual({ status: 'failed', error: 'firmware.update failed: flash full' });
    } finally {
      await db.destroy();
    }
  });
});
