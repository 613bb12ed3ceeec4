// Zero-touch provisioning of a simulated device (DEVICE-PROTOCOL.md, "Provisioning"): with its
// factory bootstrap certificate it connects to the provisioning listener as
// `bootstrap-<hardware_id>`, sends a CSR on `provisioning/<hw>/req`, takes the fleet
// certificate and its device id from `provisioning/<hw>/res`, and from then on connects to the
// fleet listener with it. Failed attempts are retried with jittered back-off.
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { payloadCheckers, provisioningTopic } from '@drover/contracts';
import type { Logger } from '@drover/observability';
import { createCsr } from '@drover/pki';
import { type BackoffOptions, backoffDelayMs } from './domain/backoff';
import type { SimDeviceSpec } from './domain/fleet-plan';
import type { Random } from './domain/random';
import type { DeviceConnection, DeviceIdentitySource } from './identity-source';

/** A certificate and its private key, PEM. */
export interface PemIdentity {
  /** Certificate (chain). */
  certificatePem: string;
  /** Private key. */
  privateKeyPem: string;
}

/** Options of {@link provisionedIdentity}. */
export interface ProvisionedIdentityOptions {
  /** Provisioning listener, `mqtts://host:8884`. */
  provisioningUrl: string;
  /** Fleet listener; default the `endpoints.mqtt` of the provisioning answer. */
  fleetUrl?: string;
  /** CA chain the broker's certificate is checked against. */
  ca: string;
  /** Device type sent in the request. */
  deviceType: string;
  /** Topic prefix in front of `provisioning/…` ('' in production). */
  topicPrefix: string;
  /** The factory's bootstrap certificate of a device (CN = hardware id). */
  bootstrapFor(device: SimDeviceSpec): Promise<PemIdentity>;
  /** Give up one attempt after this long (default 20 s). */
  attemptTimeoutMs?: number;
  /** Retry back-off. */
  backoff: BackoffOptions;
  /** Jitter. */
  rand: Random;
  /** Stops retrying. */
  signal?: AbortSignal;
  /** Logger. */
  logger: Logger;
}

/** Identity source that provisions each device on first use and keeps its fleet identity. */
export interface ProvisionedIdentitySource extends DeviceIdentitySource {
  /** Replaces a device's fleet certificate (after a renewal). */
  update(device: SimDeviceSpec, identity: PemIdentity): void;
}

/** Provisions devices over MQTT; each device only once per process. */
export function provisionedIdentity(opts: ProvisionedIdentityOptions): ProvisionedIdentitySource {
  const known = new Map<string, DeviceConnection>();
  const connection = (url: string, id: PemIdentity, deviceId: string, tenant: string) => ({
    url,
    deviceId,
    tenant,
    options: { cert: id.certificatePem, key: id.privateKeyPem, ca: opts.ca },
  });
  return {
    async connectionFor(device) {
      const cached = known.get(device.hardwareId);
      if (cached) return cached;
      for (let attempt = 0; ; attempt++) {
        opts.signal?.throwIfAborted();
        try {
          const done = await provisionOnce(device, opts);
          const conn = connection(
            opts.fleetUrl ?? done.mqttUrl,
            done.identity,
            done.deviceId,
            done.tenant,
          );
          known.set(device.hardwareId, conn);
          return { ...conn, fresh: true };
        } catch (err) {
          const delay = backoffDelayMs(attempt, opts.rand, opts.backoff);
          opts.logger[attempt % 10 === 0 ? 'warn' : 'debug'](
            { err, hardware_id: device.hardwareId, delay },
            'provisioning failed, retrying',
          );
          await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : {});
        }
      }
    },
    update(device, identity) {
      const conn = known.get(device.hardwareId);
      if (!conn) throw new Error(`${device.hardwareId} is not provisioned`);
      known.set(
        device.hardwareId,
        connection(conn.url, identity, conn.deviceId as string, conn.tenant as string),
      );
    },
  };
}

interface Provisioned {
  deviceId: string;
  tenant: string;
  mqttUrl: string;
  identity: PemIdentity;
}

/** One provisioning round trip on the provisioning listener. */
async function provisionOnce(
  device: SimDeviceSpec,
  opts: ProvisionedIdentityOptions,
): Promise<Provisioned> {
  const hw = device.hardwareId;
  const prefix = opts.topicPrefix || undefined;
  const bootstrap = await opts.bootstrapFor(device);
  const { csrPem, privateKeyPem } = await createCsr(hw);
  const requestId = `prov-${Date.now().toString(36)}-${Math.floor(opts.rand.next() * 1e9)}`;
  const client = await mqtt.connectAsync(opts.provisioningUrl, {
    clientId: `bootstrap-${hw}`,
    cert: bootstrap.certificatePem,
    key: bootstrap.privateKeyPem,
    ca: opts.ca,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: opts.attemptTimeoutMs ?? 20_000,
  });
  try {
    const answer = new Promise<Record<string, unknown>>((resolve) => {
      client.on('message', (_topic, payload) => {
        let body: unknown;
        try {
          body = JSON.parse(payload.toString('utf8'));
        } catch (err) {
          opts.logger.debug({ err, hardware_id: hw }, 'unreadable provisioning answer ignored');
          return;
        }
        const b = body as Record<string, unknown>;
        if (b.request_id === requestId) resolve(b);
      });
    });
    await client.subscribeAsync(provisioningTopic(hw, 'res', prefix), { qos: 1 });
    const request = {
      msg_id: requestId,
      ts: Date.now(),
      schema_version: 1,
      device_type: opts.deviceType,
      csr: csrPem,
    };
    await client.publishAsync(provisioningTopic(hw, 'req', prefix), JSON.stringify(request), {
      qos: 1,
    });
    const timeout = opts.attemptTimeoutMs ?? 20_000;
    const timer = new AbortController();
    const res = await Promise.race([
      answer,
      sleep(timeout, undefined, { signal: timer.signal }).then(() => {
        throw new Error(`no provisioning answer within ${timeout} ms`);
      }),
    ]).finally(() => timer.abort());
    if (!payloadCheckers.ProvisioningResponse.check(res)) {
      throw new Error('malformed provisioning answer');
    }
    if (res.status !== 'ok') throw new Error(`${res.error.code}: ${res.error.detail}`);
    return {
      deviceId: res.device_id,
      tenant: res.tenant,
      mqttUrl: res.endpoints.mqtt,
      identity: { certificatePem: res.certificate, privateKeyPem },
    };
  } finally {
    await client.endAsync();
  }
}
