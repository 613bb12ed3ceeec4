// A private Mosquitto with the generated mTLS config, and MQTT-over-TLS client helpers.
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import {
  freePort,
  portAccepts,
  startPrivateMosquitto,
  waitFor,
  type PrivateMosquitto,
} from '@drover/testing';
import {
  issueClientCertificate,
  MemorySecretStore,
  prepareSecureBroker,
  type CertificateAuthority,
  type IssuedCertificateWithKey,
  type SecureBroker,
} from '@drover/pki';

/** The broker under test and its files. */
export interface BrokerFixture {
  /** Private mosquitto. */
  mosquitto: PrivateMosquitto;
  /** Generated files and the PKI. */
  broker: SecureBroker;
  /** Temp directory of the generated files. */
  dir: string;
  /** Stops the broker and removes everything. */
  destroy(): Promise<void>;
}

/** Starts a private mosquitto with the generated mTLS listeners appended to its config. */
export async function startSecureBroker(): Promise<BrokerFixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'drover-pki-broker-'));
  const broker = await prepareSecureBroker({
    dir,
    store: new MemorySecretStore(),
    fleetPort: await freePort(),
    provisioningPort: await freePort(),
    platformPort: await freePort(),
    omitUser: true,
  });
  const mosquitto = await startPrivateMosquitto({ config: broker.config });
  await waitForTls(broker);
  return {
    mosquitto,
    broker,
    dir,
    destroy: async () => {
      await mosquitto.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The helper waits for its plain listener only; the TLS listeners open after it. */
export async function waitForTls(broker: SecureBroker): Promise<void> {
  await waitFor(
    async () =>
      (await portAccepts(broker.ports.fleet)) &&
      (await portAccepts(broker.ports.provisioning)) &&
      (await portAccepts(broker.ports.platform)),
    { timeoutMs: 5000, description: 'mosquitto TLS listeners' },
  );
}

/** The pid of the private mosquitto (found by its config path, for SIGHUP). */
export function mosquittoPid(m: PrivateMosquitto): number {
  const configFile = path.join(m.dir, 'mosquitto.conf');
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      // The process exited while we were looking: not ours anyway.
      continue;
    }
    if (cmdline.split('\0').includes(configFile)) return Number(entry);
  }
  throw new Error(`no mosquitto running with ${configFile}`);
}

/** A client certificate for `cn` from `ca`. */
export function clientCert(
  ca: CertificateAuthority,
  cn: string,
  opts: { profile?: 'device' | 'bootstrap' | 'service'; now?: Date; validityDays?: number } = {},
): Promise<IssuedCertificateWithKey> {
  return issueClientCertificate(ca, {
    commonName: cn,
    profile: opts.profile ?? 'device',
    now: opts.now,
    validityDays: opts.validityDays,
  });
}

/** Connection parameters of one TLS client. */
export interface TlsClientOptions {
  /** Listener port. */
  port: number;
  /** Client certificate and key. */
  identity: Pick<IssuedCertificateWithKey, 'certificatePem' | 'privateKeyPem'>;
  /** Trust anchors for the server certificate (the fleet chain). */
  ca: string[];
  /** Client id (default: random). */
  clientId?: string;
}

function options(o: TlsClientOptions): IClientOptions {
  return {
    host: '127.0.0.1',
    port: o.port,
    protocol: 'mqtts',
    protocolVersion: 4,
    clientId: o.clientId ?? `c-${Math.random().toString(36).slice(2)}`,
    key: o.identity.privateKeyPem,
    cert: o.identity.certificatePem,
    ca: o.ca,
    rejectUnauthorized: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    clean: true,
  };
}

const open: MqttClient[] = [];

/** Connects and resolves on CONNACK; rejects with the error otherwise. */
export function connectTls(o: TlsClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(options(o));
    open.push(client);
    client.once('connect', () => resolve(client));
    client.once('error', (err) => reject(err));
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
}

/** Resolves with the reason when the broker refuses the connection (TLS or CONNACK). */
export async function expectRefused(o: TlsClientOptions): Promise<string> {
  try {
    await connectTls(o);
  } catch (err) {
    return String((err as Error).message ?? err);
  }
  throw new Error('connection was accepted');
}

/** Subscribes and returns the granted QoS per filter (128 = refused, MQTT 3.1.1). */
export function subscribeGranted(client: MqttClient, filters: string[]): Promise<number[]> {
  return new Promise((resolve, reject) => {
    client.subscribe(filters, { qos: 1 }, (err, granted) => {
      if (err && !granted) reject(err);
      else resolve((granted ?? []).map((g) => g.qos));
    });
  });
}

/** Publishes at QoS 1 and resolves on PUBACK (the broker acks even a publish the ACL drops). */
export function publish(client: MqttClient, topic: string, payload: string): Promise<void> {
  return new Promise((resolve, reject) => {
    client.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve()));
  });
}

/** Collects every message a client receives. */
export function collect(client: MqttClient): Array<{ topic: string; payload: string }> {
  const seen: Array<{ topic: string; payload: string }> = [];
  client.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));
  return seen;
}

/** Ends every client this module opened. */
export async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
}
