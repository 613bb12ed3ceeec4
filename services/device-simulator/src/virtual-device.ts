// One simulated device over real MQTT: connects as itself with a last will, announces itself
// online (retained), sends telemetry from its sensor model, answers commands and desired state,
// and reconnects with jittered back-off when the connection drops.
import { type KeyObject, X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { payloadCheckers } from '@drover/contracts';
import { createCsr } from '@drover/pki';
import type net from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '@drover/observability';
import { type BackoffOptions, backoffDelayMs } from './domain/backoff';
import { CommandMemory, parseCommand, parseDesiredState, planCommand } from './domain/commands';
import {
  type SensorState,
  initialSensorState,
  readSensor,
  rebootSensor,
} from './domain/device-model';
import { type FaultDraw, type LinkTraits } from './domain/fault-profile';
import type { OtaFaultProfile } from './domain/firmware';
import { type SimDeviceSpec, deviceRoot } from './domain/fleet-plan';
import * as msg from './domain/messages';
import { encodePayload } from './payload.codec';
import { type Random, createRandom, seedOf } from './domain/random';
import { FIRMWARE_COMMANDS, FirmwareAgent, type FirmwareHost } from './firmware-agent';
import type { DeviceIdentitySource } from './identity-source';

/** Firmware behaviour of a device. */
export interface OtaOptions {
  /** Firmware faults. */
  faults: OtaFaultProfile;
  /** Mean simulated install time, ms. */
  installMs: number;
  /** Image download timeout, ms. */
  downloadTimeoutMs: number;
  /** Ed25519 key that signs images (signatures unchecked without it). */
  signingKey?: KeyObject;
}

/** Everything a virtual device needs. */
export interface VirtualDeviceOptions {
  /** Who the device is. */
  spec: SimDeviceSpec;
  /** Tenant. */
  tenant: string;
  /** Device type. */
  deviceType: string;
  /** MQTT topic prefix ('' in production). */
  topicPrefix: string;
  /** Firmware version the device runs at start. */
  firmwareVersion: string;
  /** Firmware updates and rollbacks. */
  ota: OtaOptions;
  /** Mean telemetry interval, ms (each tick is jittered ±20 %). */
  telemetryIntervalMs: number;
  /** Every n-th message goes as CBOR (0 = never). */
  cborEvery: number;
  /** Unique per simulator run: keeps msg_ids unique across restarts. */
  runId: string;
  /** The device's broker connection. */
  identity: DeviceIdentitySource;
  /** Faults drawn from the device's stream. */
  faults: FaultDraw;
  /** Network delay and clock skew of this device. */
  link?: LinkTraits;
  /** The device's random stream (sensor, jitter). */
  rand: Random;
  /** Reconnect back-off bounds. */
  reconnect: BackoffOptions;
  /** After provisioning, announce the online status again this much later (0 = never). */
  reannounceAfterProvisioningMs?: number;
  /** Give up a connection attempt (TLS handshake to CONNACK) after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** Logger. */
  logger: Logger;
  /** Called for every message published, by channel. */
  onSent(channel: string): void;
  /** Called when the device connects (true) or loses its connection (false). */
  onConnection(connected: boolean): void;
}

/** A running virtual device. */
export class VirtualDevice {
  private client: MqttClient | null = null;
  private sensor: SensorState;
  private seq = 0;
  private attempt = 0;
  private lastReadingMs = Date.now();
  private telemetryTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private rebooting = false;
  private cleanReconnect = false;
  private reannounce = false;
  /** Vanished (a fault): never reconnects. */
  private gone = false;
  private readonly memory = new CommandMemory();
  private readonly firmware: FirmwareAgent;
  private readonly firmwareHost: FirmwareHost;
  private root: string;
  private deviceId: string;
  private renewal: ((res: Record<string, unknown>) => void) | null = null;
  private renewTimer: NodeJS.Timeout | undefined;
  /** Whether the device is connected and has announced itself. */
  online = false;
  /** Times the device came online (a reboot or reconnect adds one). */
  connections = 0;

  constructor(private readonly o: VirtualDeviceOptions) {
    this.sensor = initialSensorState(o.rand);
    this.deviceId = o.spec.deviceId;
    this.root = deviceRoot(o.topicPrefix, o.tenant, o.deviceType, o.spec.deviceId);
    this.firmware = new FirmwareAgent({
      deviceId: o.spec.deviceId,
      initialVersion: o.firmwareVersion,
      faults: o.ota.faults,
      faultStream: (version) => createRandom(seedOf(o.spec.seed, 'ota', version)),
      installMs: o.ota.installMs,
      rand: o.rand,
      downloadTimeoutMs: o.ota.downloadTimeoutMs,
      signingKey: o.ota.signingKey,
      logger: o.logger,
    });
    this.firmwareHost = {
      updateStatus: (deploymentId, version, state, extra) =>
        this.publish(
          'update_status',
          msg.updateStatus(this.envelope(), deploymentId, version, state, extra),
          { retain: true },
        ),
      answer: (answer) => this.answer(answer),
      reboot: () => {
        this.rebooting = true;
        this.dropConnection();
      },
      vanish: () => {
        this.gone = true;
        this.dropConnection();
      },
    };
  }

  /** The firmware version running now. */
  get firmwareVersion(): string {
    return this.firmware.slots.current;
  }

  /** Whether the device vanished (a fault) and will not come back. */
  get vanished(): boolean {
    return this.gone;
  }

  /** The device id. */
  get id(): string {
    return this.deviceId;
  }

  /** Connects; resolves once online (retrying in the background until then). */
  async start(): Promise<void> {
    const conn = await this.o.identity.connectionFor(this.o.spec);
    // A provisioned device learns its id (and tenant) from the platform.
    this.deviceId = conn.deviceId ?? this.o.spec.deviceId;
    this.reannounce = conn.fresh === true && (this.o.reannounceAfterProvisioningMs ?? 0) > 0;
    this.root = deviceRoot(
      this.o.topicPrefix,
      conn.tenant ?? this.o.tenant,
      this.o.deviceType,
      this.deviceId,
    );
    const client = mqtt.connect(conn.url, {
      ...conn.options,
      clientId: this.deviceId,
      clean: false,
      keepalive: 60,
      // Reconnects are ours: the protocol asks for exponential back-off with full jitter.
      reconnectPeriod: 0,
      connectTimeout: this.o.connectTimeoutMs ?? 10_000,
      will: {
        topic: `${this.root}/status`,
        payload: Buffer.from(JSON.stringify(msg.OFFLINE_STATUS)),
        qos: 1,
        retain: true,
      },
    });
    this.client = client;
    const up = new Promise<void>((resolve) => {
      const onUp = () => {
        if (this.online) {
          this.o.onConnection(true);
          resolve();
        }
      };
      client.on(
        'connect',
        () => void this.onConnect().then(onUp, (err: unknown) => this.fail(err)),
      );
    });
    client.on('close', () => this.onClose());
    client.on('error', (err) => this.o.logger.debug({ err, device: this.id }, 'mqtt error'));
    client.on('message', (topic, payload) => void this.onMessage(topic, payload));
    this.scheduleTelemetry(this.o.rand.next() * this.o.telemetryIntervalMs);
    return up;
  }

  /**
   * Stops telemetry, publishes the offline status and disconnects. Never waits on a connection
   * that is gone: the offline status and the in-flight messages are given up to
   * STOP_PUBLISH_TIMEOUT_MS and only while connected (with `clean: false` and no automatic
   * reconnect, mqtt.js would otherwise wait for their PUBACK forever).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.telemetryTimer);
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.renewTimer);
    const client = this.client;
    if (!client) return;
    if (this.online) this.o.onConnection(false);
    this.online = false;
    if (client.connected) {
      const offline = client.publishAsync(
        `${this.root}/status`,
        JSON.stringify(msg.OFFLINE_STATUS),
        { qos: 1, retain: true },
      );
      this.o.onSent('status');
      const outcome = await whileConnected(client, offline, STOP_PUBLISH_TIMEOUT_MS);
      if (outcome !== 'done') {
        this.o.logger.warn({ device: this.id, outcome }, 'offline status not acknowledged');
      }
    }
    if (!client.connected) {
      await client.endAsync(true);
      return;
    }
    // DISCONNECT once the in-flight messages are acknowledged, unless the connection goes first.
    const ended = client.endAsync(false);
    if ((await whileConnected(client, ended, STOP_PUBLISH_TIMEOUT_MS)) !== 'done') {
      client.stream.destroy();
    }
  }

  private async onConnect(): Promise<void> {
    const client = this.client as MqttClient;
    (client.stream as unknown as net.Socket).setNoDelay?.(true);
    this.attempt = 0;
    await client.subscribeAsync({
      [`${this.root}/cmd`]: { qos: 1 },
      [`${this.root}/state/desired`]: { qos: 1 },
      [`${this.root}/cert/renew/res`]: { qos: 1 },
    });
    this.scheduleRenewal();
    const status = msg.onlineStatus(
      this.envelope(),
      this.firmware.slots.current,
      this.o.spec.hardwareModel,
    );
    await this.publish('status', status, { retain: true });
    this.online = true;
    this.connections += 1;
    if (this.reannounce) {
      // The platform registers a provisioned device asynchronously and may have dropped this
      // first status as coming from an unknown device: say it once more, later.
      this.reannounce = false;
      setTimeout(() => {
        if (!this.online) return;
        const again = msg.onlineStatus(
          this.envelope(),
          this.firmware.slots.current,
          this.o.spec.hardwareModel,
        );
        this.publish('status', again, { retain: true }).catch((err: unknown) =>
          this.o.logger.debug({ err, device: this.id }, 'announcing again failed'),
        );
      }, this.o.reannounceAfterProvisioningMs).unref();
    }
    // An update or rollback that rebooted reports its end now, with the new version running.
    void this.firmware.afterBoot(this.firmwareHost).catch((err: unknown) => {
      this.o.logger.debug({ err, device: this.id }, 'reporting the firmware outcome failed');
    });
  }

  private onClose(): void {
    if (this.online) this.o.onConnection(false);
    this.online = false;
    if (this.rebooting) {
      this.rebooting = false;
      this.sensor = rebootSensor(this.sensor);
    }
    if (this.stopping || this.gone) return;
    if (this.cleanReconnect) {
      // A planned reconnect (new certificate): at once, without back-off.
      this.cleanReconnect = false;
      return;
    }
    const delay = backoffDelayMs(this.attempt++, this.o.rand, this.o.reconnect);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.client?.reconnect(), delay);
  }

  private scheduleTelemetry(delayMs: number): void {
    this.telemetryTimer = setTimeout(() => {
      void this.tick().finally(() => {
        if (!this.stopping)
          this.scheduleTelemetry(this.o.telemetryIntervalMs * (0.8 + 0.4 * this.o.rand.next()));
      });
    }, delayMs);
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    const reading = readSensor(this.sensor, (now - this.lastReadingMs) / 1000, this.o.rand);
    this.sensor = reading.state;
    this.lastReadingMs = now;
    if (!this.online) return;
    if (this.o.faults.flap()) {
      this.dropConnection();
      return;
    }
    const body = msg.telemetry(this.envelope(), { ...reading.metrics });
    const encoding = msg.encodingFor(this.seq, this.o.cborEvery);
    await this.publish('telemetry', body, {
      encoding,
      malformed: this.o.faults.malformed(),
      qos: 0,
    });
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    try {
      await this.linkDelay();
      if (topic === `${this.root}/cmd`) await this.onCommand(payload);
      else if (topic === `${this.root}/cert/renew/res`) this.renewal?.(parseObject(payload));
      else if (topic === `${this.root}/state/desired`) {
        const state = parseDesiredState(payload);
        if (state) await this.publish('state/reported', msg.reportedState(this.envelope(), state));
      }
    } catch (err) {
      // A lost connection mid-answer: the command comes again (QoS 1, persistent session).
      this.o.logger.debug({ err, device: this.id, topic }, 'answer failed');
    }
  }

  private async onCommand(payload: Buffer): Promise<void> {
    const cmd = parseCommand(payload);
    if (!cmd) {
      this.o.logger.debug({ device: this.id }, 'unreadable command ignored');
      return;
    }
    const earlier = this.memory.get(cmd.id);
    if (earlier) {
      await this.publish('cmd/res', msg.commandResult(this.envelope(), earlier));
      return;
    }
    if (cmd.name === 'certificate.rotate') {
      await this.rotateCommand(cmd.id, cmd.expiresAtMs);
      return;
    }
    if (FIRMWARE_COMMANDS.has(cmd.name)) {
      await this.firmware.handle(cmd, this.firmwareHost);
      return;
    }
    const plan = planCommand(cmd, this.o.faults.failCommand(), Date.now());
    for (const answer of plan.answers) await this.answer(answer);
    if (plan.reboot) {
      this.rebooting = true;
      this.dropConnection();
    }
  }

  private async rotateCommand(cmdId: string, expiresAtMs: number): Promise<void> {
    if (expiresAtMs <= Date.now()) {
      await this.answer({ cmdId, status: 'rejected', extra: { error: 'expired' } });
      return;
    }
    await this.answer({ cmdId, status: 'accepted', extra: {} });
    const outcome = await this.renewCertificate();
    await this.answer(
      outcome.ok
        ? { cmdId, status: 'succeeded', extra: { result: { not_after: outcome.notAfter } } }
        : { cmdId, status: 'failed', extra: { error: outcome.error } },
    );
    if (outcome.ok) this.reconnectCleanly();
  }

  /**
   * Renews the certificate over `cert/renew`: a new key and CSR (CN = device id), the answer on
   * `cert/renew/res`; the new certificate is used from the next connection on.
   */
  private async renewCertificate(): Promise<
    { ok: true; notAfter: string } | { ok: false; error: string }
  > {
    if (this.renewal) return { ok: false, error: 'a renewal is in progress' };
    const { csrPem, privateKeyPem } = await createCsr(this.deviceId);
    const answer = new Promise<Record<string, unknown>>((resolve) => (this.renewal = resolve));
    const timer = new AbortController();
    try {
      await this.publish('cert/renew', { ...this.envelope(), csr: csrPem });
      const res = await Promise.race([
        answer,
        sleep(RENEWAL_TIMEOUT_MS, null, { signal: timer.signal }),
      ]);
      if (res === null) return { ok: false, error: 'no renewal answer in time' };
      if (!payloadCheckers.CertRenewResponse.check(res)) {
        return { ok: false, error: 'malformed renewal answer' };
      }
      if (res.status !== 'ok')
        return { ok: false, error: `${res.error.code}: ${res.error.detail}` };
      const identity = { certificatePem: res.certificate, privateKeyPem };
      this.o.identity.update?.(this.o.spec, identity);
      const client = this.client as MqttClient;
      client.options.cert = identity.certificatePem;
      client.options.key = identity.privateKeyPem;
      const notAfter = new X509Certificate(res.certificate).validTo;
      this.o.logger.info({ device: this.id, not_after: notAfter }, 'certificate renewed');
      return { ok: true, notAfter: new Date(notAfter).toISOString() };
    } finally {
      timer.abort();
      this.renewal = null;
    }
  }

  /** Renews by itself once two thirds of the certificate's lifetime have passed. */
  private scheduleRenewal(): void {
    clearTimeout(this.renewTimer);
    const cert = this.client?.options.cert;
    if (typeof cert !== 'string') return;
    const x = new X509Certificate(cert);
    const from = Date.parse(x.validFrom);
    const due = from + ((Date.parse(x.validTo) - from) * 2) / 3;
    // Timers hold at most ~24.8 days: look again then.
    const wait = Math.min(Math.max(0, due - Date.now()), 2 ** 31 - 1);
    this.renewTimer = setTimeout(() => {
      if (Date.now() < due || !this.online) return this.scheduleRenewal();
      void this.renewCertificate().then(
        (outcome) => (outcome.ok ? this.reconnectCleanly() : this.retryRenewalLater(outcome.error)),
        (err: unknown) => this.retryRenewalLater(String(err)),
      );
    }, wait);
    this.renewTimer.unref();
  }

  private retryRenewalLater(error: string): void {
    this.o.logger.warn({ device: this.id, error }, 'certificate renewal failed, retrying');
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => this.scheduleRenewal(), RENEWAL_TIMEOUT_MS);
    this.renewTimer.unref();
  }

  /** DISCONNECT (no will) and connect again at once, with the current certificate. */
  private reconnectCleanly(): void {
    const client = this.client;
    if (!client || this.stopping) return;
    this.cleanReconnect = true;
    client.end(false, {}, () => {
      if (!this.stopping) client.reconnect();
    });
  }

  /** Answers on `cmd/res`; the latest answer is what a resend of the command gets. */
  private async answer(answer: msg.CommandAnswer): Promise<void> {
    await this.publish('cmd/res', msg.commandResult(this.envelope(), answer));
    this.memory.remember(answer);
  }

  /** Cuts the TCP connection without DISCONNECT, as a power loss: the broker sends the will. */
  private dropConnection(): void {
    if (this.stopping) return; // a device shutting down does not reboot or vanish
    this.client?.stream.destroy();
  }

  private envelope() {
    return msg.envelope(this.o.runId, this.seq++, Date.now() + (this.o.link?.clockSkewMs ?? 0));
  }

  /** The link's one-way delay (nothing on loopback speed). */
  private async linkDelay(): Promise<void> {
    const ms = this.o.link?.delayMs ?? 0;
    if (ms > 0) await sleep(ms);
  }

  private async publish(
    channel: string,
    body: Record<string, unknown>,
    opts: { retain?: boolean; encoding?: msg.Encoding; malformed?: boolean; qos?: 0 | 1 } = {},
  ): Promise<void> {
    const payload = encodePayload(body, opts.encoding ?? 'json', opts.malformed);
    await this.linkDelay();
    await (this.client as MqttClient).publishAsync(`${this.root}/${channel}`, payload, {
      qos: opts.qos ?? 1,
      retain: opts.retain ?? false,
    });
    this.o.onSent(channel);
  }

  private fail(err: unknown): void {
    // Subscribing or announcing failed (the connection dropped meanwhile): reconnect.
    this.o.logger.debug({ err, device: this.id }, 'coming online failed');
    this.dropConnection();
  }
}

const RENEWAL_TIMEOUT_MS = 30_000;
/** How long stopping waits for the offline status's and the DISCONNECT's acknowledgement. */
const STOP_PUBLISH_TIMEOUT_MS = 5_000;

/** Waits for `work` while the client stays connected, at most `ms`. */
async function whileConnected(
  client: MqttClient,
  work: Promise<unknown>,
  ms: number,
): Promise<'done' | 'failed' | 'closed' | 'timeout'> {
  let onClose = (): void => undefined;
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<'closed'>((resolve) => {
    onClose = () => resolve('closed');
    client.once('close', onClose);
  });
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => 'done' as const,
        () => 'failed' as const,
      ),
      closed,
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
    client.off('close', onClose);
  }
}

function parseObject(payload: Buffer): Record<string, unknown> {
  try {
    return JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    // Not JSON: handed on as an empty object, which the schema check then refuses.
    return { unreadable: String(err) };
  }
}
