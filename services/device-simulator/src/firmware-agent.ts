// The firmware side of a simulated device: `firmware.update` downloads the image over HTTP(S),
// checks size, SHA-256 and (when a key is configured) the Ed25519 signature, reports progress
// on `update_status`, "installs" for a while and reboots into the new version; the final
// `succeeded` is reported after the reconnect, with the new version in the online status.
// `firmware.rollback` boots back into the other slot. Faults (fail, vanish, boot loop) are
// drawn per device and target version (domain/firmware.ts).
import { type KeyObject, createHash, verify } from 'node:crypto';
import type { Logger } from '@drover/observability';
import type { ReceivedCommand } from './domain/commands';
import {
  type FirmwareSlots,
  type OtaFault,
  type OtaFaultProfile,
  type UpdateOrder,
  bootInto,
  checkImage,
  otaFault,
  planRollback,
  planUpdate,
  progressMark,
} from './domain/firmware';
import type { CommandAnswer, UpdateState } from './domain/messages';
import type { Random } from './domain/random';

/** Command names the agent handles. */
export const FIRMWARE_COMMANDS = new Set(['firmware.update', 'firmware.rollback']);

/** What the agent needs from its device. */
export interface FirmwareHost {
  /** Publishes a retained `update_status`. */
  updateStatus(
    deploymentId: string,
    version: string,
    state: UpdateState,
    extra?: { progress?: number; error?: string },
  ): Promise<void>;
  /** Answers on `cmd/res` (and remembers the answer for resends). */
  answer(answer: CommandAnswer): Promise<void>;
  /** Reboots: drops the connection (the will fires) and reconnects after the back-off. */
  reboot(): void;
  /** Drops the connection and never comes back. */
  vanish(): void;
}

/** Options of the agent. */
export interface FirmwareAgentOptions {
  /** Device id (logs). */
  deviceId: string;
  /** Version the device runs at start. */
  initialVersion: string;
  /** Firmware faults. */
  faults: OtaFaultProfile;
  /** The random stream that decides the fault of an update to `version`. */
  faultStream(version: string): Random;
  /** Mean simulated install time, ms (jittered ±50 %). */
  installMs: number;
  /** Jitter. */
  rand: Random;
  /** Download timeout, ms. */
  downloadTimeoutMs: number;
  /** Ed25519 public key that signs images; without it signatures are not checked. */
  signingKey?: KeyObject;
  /** Logger. */
  logger: Logger;
}

/** What the device must finish after the next boot. */
interface PendingBoot {
  cmdId: string;
  deploymentId: string;
  version: string;
  end: 'succeeded' | 'rolled_back';
}

/** Runs firmware commands for one device. */
export class FirmwareAgent {
  /** The slots (what runs, what it can roll back to). */
  slots: FirmwareSlots;
  private busy = false;
  private pending: PendingBoot | null = null;

  constructor(private readonly o: FirmwareAgentOptions) {
    this.slots = { current: o.initialVersion, previous: null };
  }

  /** Handles a new firmware command (resends are answered from memory by the device). */
  async handle(cmd: ReceivedCommand, host: FirmwareHost): Promise<void> {
    const answer = (status: CommandAnswer['status'], extra: CommandAnswer['extra'] = {}) =>
      host.answer({ cmdId: cmd.id, status, extra });
    if (cmd.expiresAtMs <= Date.now()) return answer('rejected', { error: 'expired' });
    if (cmd.name === 'firmware.update') {
      const plan = planUpdate(cmd.params, this.slots, this.busy);
      if (plan.kind === 'reject') return answer('rejected', { error: plan.error });
      const { deploymentId, version } = plan.order;
      if (plan.kind === 'already') {
        await answer('accepted');
        await host.updateStatus(deploymentId, version, 'succeeded', { progress: 100 });
        return answer('succeeded', { result: { firmware_version: version } });
      }
      // Busy from the moment it is accepted: a second update arriving while the acceptance is
      // on its way to the broker is refused.
      return this.run(async () => {
        await answer('accepted');
        await this.update(cmd.id, plan.order, host);
      });
    }
    const plan = planRollback(cmd.params, this.slots, this.busy);
    if (plan.kind === 'reject') return answer('rejected', { error: plan.error });
    const { deploymentId, version } = plan.order;
    if (plan.kind === 'already') {
      await answer('accepted');
      await host.updateStatus(deploymentId, version, 'rolled_back');
      return answer('succeeded', { result: { firmware_version: version } });
    }
    return this.run(async () => {
      await answer('accepted');
      await host.updateStatus(deploymentId, version, 'installing');
      await this.install();
      await this.rebootInto({ cmdId: cmd.id, deploymentId, version, end: 'rolled_back' }, host);
    });
  }

  /** After a (re)connect and the online status: finishes an update or rollback that rebooted. */
  async afterBoot(host: FirmwareHost): Promise<void> {
    const done = this.pending;
    if (!done) return;
    const extra = done.end === 'succeeded' ? { progress: 100 } : {};
    await host.updateStatus(done.deploymentId, done.version, done.end, extra);
    await host.answer({
      cmdId: done.cmdId,
      status: 'succeeded',
      extra: { result: { firmware_version: done.version } },
    });
    // Only once both are out: a connection lost meanwhile reports them after the next boot.
    if (this.pending === done) {
      this.pending = null;
      this.busy = false;
    }
  }

  /** Whether the device is in the middle of a firmware operation. */
  get inProgress(): boolean {
    return this.busy;
  }

  private async run(work: () => Promise<void>): Promise<void> {
    this.busy = true;
    try {
      await work();
    } finally {
      // A reboot keeps the device busy until afterBoot; anything else ends the operation here.
      if (!this.pending) this.busy = false;
    }
  }

  private async update(cmdId: string, order: UpdateOrder, host: FirmwareHost): Promise<void> {
    const { deploymentId, version } = order;
    const fault: OtaFault = otaFault(this.o.faults, version, this.o.faultStream(version));
    const failed = async (error: string) => {
      await host.updateStatus(deploymentId, version, 'failed', { error });
      await host.answer({ cmdId, status: 'failed', extra: { error } });
    };
    await host.updateStatus(deploymentId, version, 'downloading', { progress: 0 });
    let image: Buffer;
    try {
      image = await this.download(order, (progress) =>
        host.updateStatus(deploymentId, version, 'downloading', { progress }),
      );
    } catch (err) {
      return failed(`download failed: ${(err as Error).message}`);
    }
    const bad =
      checkImage(order, {
        size: image.length,
        sha256: createHash('sha256').update(image).digest('hex'),
      }) ?? this.checkSignature(order, image);
    if (bad) return failed(bad);
    await host.updateStatus(deploymentId, version, 'downloaded', { progress: 100 });
    await host.updateStatus(deploymentId, version, 'installing');
    if (fault === 'vanish') {
      this.o.logger.debug({ device: this.o.deviceId, version }, 'fault: vanishing mid-update');
      host.vanish();
      return;
    }
    await this.install();
    if (fault === 'fail') return failed('install failed (simulated fault)');
    if (fault === 'boot_loop') {
      // Claims success, then never boots far enough to connect again.
      await host.updateStatus(deploymentId, version, 'succeeded', { progress: 100 });
      await host.answer({
        cmdId,
        status: 'succeeded',
        extra: { result: { firmware_version: version } },
      });
      this.o.logger.debug({ device: this.o.deviceId, version }, 'fault: boot loop');
      host.vanish();
      return;
    }
    await this.rebootInto({ cmdId, deploymentId, version, end: 'succeeded' }, host);
  }

  private async rebootInto(next: PendingBoot, host: FirmwareHost): Promise<void> {
    await host.updateStatus(next.deploymentId, next.version, 'rebooting');
    this.slots = bootInto(this.slots, next.version);
    this.pending = next;
    host.reboot();
  }

  private install(): Promise<void> {
    const ms = this.o.installMs * (0.5 + this.o.rand.next());
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** Downloads the image, reporting progress marks; refuses to read past the announced size. */
  private async download(order: UpdateOrder, onProgress: (p: number) => Promise<void>) {
    const res = await fetch(order.url, { signal: AbortSignal.timeout(this.o.downloadTimeoutMs) });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    const chunks: Buffer[] = [];
    let received = 0;
    let mark = 0;
    for await (const chunk of res.body) {
      const bytes = Buffer.from(chunk as Uint8Array);
      received += bytes.length;
      if (received > order.size) throw new Error(`image larger than ${order.size} bytes`);
      chunks.push(bytes);
      const next = progressMark(received, order.size, mark);
      // 100 is reported as `downloaded`, after the checks.
      if (next !== null && next < 100) {
        mark = next;
        await onProgress(next);
      }
    }
    return Buffer.concat(chunks);
  }

  private checkSignature(order: UpdateOrder, image: Buffer): string | null {
    const key = this.o.signingKey;
    if (!key) return null;
    if (order.signatureAlg !== 'ed25519') return `unsupported signature_alg ${order.signatureAlg}`;
    const ok = verify(null, image, key, Buffer.from(order.signature, 'base64'));
    return ok ? null : 'signature does not verify';
  }
}
