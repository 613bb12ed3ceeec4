// A slice of the fleet living in one thread: its virtual devices and their bring-up in waves.
// The simulator runs one slice in its own thread, or one per worker thread (fleet.worker.ts)
// past one core's worth of devices.
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from '@drover/observability';
import {
  type CertificateAuthority,
  FileSecretStore,
  issueClientCertificate,
  loadOrCreatePki,
} from '@drover/pki';
import type { SimulatorConfig } from './config';
import { faultDraw, linkTraits } from './domain/fault-profile';
import { parseVersionRates } from './domain/firmware';
import { type SimDeviceSpec, waves } from './domain/fleet-plan';
import { createRandom, seedOf } from './domain/random';
import {
  type DeviceIdentitySource,
  plainBrokerIdentity,
  preissuedIdentity,
} from './identity-source';
import { provisionedIdentity } from './provisioning';
import { type OtaOptions, VirtualDevice } from './virtual-device';

/** Collaborators of a fleet slice. */
export interface LocalFleetDeps {
  /** Logger. */
  logger: Logger;
  /** How devices reach the broker. */
  identity: DeviceIdentitySource;
  /** Unique per simulator run (msg_id uniqueness across restarts). */
  runId: string;
  /** A message was published on `channel`. */
  onSent(channel: string): void;
  /** A device came online (true) or went offline (false). */
  onConnection(up: boolean): void;
}

/** Devices of one thread. */
export interface LocalFleet {
  /** The devices. */
  devices: VirtualDevice[];
  /** Connects them wave after wave; resolves once all are online. */
  bringUp(signal: AbortSignal): Promise<void>;
  /** Stops the devices started so far (offline status, disconnect). */
  stop(): Promise<void>;
}

/** Creates the devices of `specs` (not connected yet). */
export function createLocalFleet(
  config: SimulatorConfig,
  specs: readonly SimDeviceSpec[],
  deps: LocalFleetDeps,
): LocalFleet {
  const faults = {
    commandFailureRate: config.SIM_COMMAND_FAILURE_RATE,
    malformedRate: config.SIM_MALFORMED_RATE,
    flapRate: config.SIM_FLAP_RATE,
  };
  const ota = otaOptions(config);
  const link = {
    networkDelayMs: config.SIM_NETWORK_DELAY_MS,
    slowLinkRate: config.SIM_SLOW_LINK_RATE,
    clockSkewRate: config.SIM_CLOCK_SKEW_RATE,
    maxClockSkewMs: config.SIM_MAX_CLOCK_SKEW_MS,
  };
  const devices = specs.map(
    (spec) =>
      new VirtualDevice({
        spec,
        tenant: config.SIM_TENANT,
        deviceType: config.SIM_DEVICE_TYPE,
        topicPrefix: config.MQTT_TOPIC_PREFIX,
        firmwareVersion: config.SIM_FIRMWARE_VERSION,
        ota,
        telemetryIntervalMs: config.SIM_TELEMETRY_INTERVAL_S * 1000,
        cborEvery: config.SIM_CBOR_EVERY,
        runId: deps.runId,
        identity: deps.identity,
        faults: faultDraw(faults, createRandom(seedOf(spec.seed, 'faults'))),
        link: linkTraits(link, createRandom(seedOf(spec.seed, 'link'))),
        rand: createRandom(spec.seed),
        reconnect: { minMs: config.SIM_RECONNECT_MIN_MS, maxMs: config.SIM_RECONNECT_MAX_MS },
        reannounceAfterProvisioningMs: config.SIM_REANNOUNCE_AFTER_PROVISIONING_MS,
        connectTimeoutMs: config.SIM_CONNECT_TIMEOUT_MS,
        logger: deps.logger,
        onSent: deps.onSent,
        onConnection: deps.onConnection,
      }),
  );
  const started: VirtualDevice[] = [];
  return {
    devices,
    async bringUp(signal) {
      // One wave after the other: a gentle start for the broker and the ingress.
      for (const wave of waves(devices, config.SIM_WAVE_SIZE)) {
        signal.throwIfAborted();
        started.push(...wave);
        await Promise.all(wave.map((d) => d.start()));
      }
    },
    async stop() {
      await Promise.all(started.map((d) => d.stop()));
    },
  };
}

/**
 * How the devices reach the broker: fleet certificates issued beforehand, provisioning over
 * mTLS, or the plain broker.
 */
export async function identityFor(
  config: SimulatorConfig,
  opts: { bootstrapCa?: CertificateAuthority; signal: AbortSignal; logger: Logger },
): Promise<DeviceIdentitySource> {
  if (config.SIM_IDENTITY_FILE !== undefined) {
    return preissuedIdentity({
      file: config.SIM_IDENTITY_FILE,
      url: config.SIM_FLEET_MQTT_URL as string,
      caFile: config.SIM_BROKER_CA_FILE,
    });
  }
  if (!config.SIM_PROVISIONING) return plainBrokerIdentity(config.MQTT_URL);
  const ca =
    opts.bootstrapCa ?? (await loadOrCreatePki(new FileSecretStore(config.PKI_DIR))).bootstrap;
  return provisionedIdentity({
    provisioningUrl: config.SIM_PROVISIONING_URL,
    fleetUrl: config.SIM_FLEET_MQTT_URL,
    ca: await readFile(config.SIM_BROKER_CA_FILE, 'utf8'),
    deviceType: config.SIM_DEVICE_TYPE,
    topicPrefix: config.MQTT_TOPIC_PREFIX,
    // The simulator plays the factory: a bootstrap certificate per hardware id.
    bootstrapFor: (device) =>
      issueClientCertificate(ca, { commonName: device.hardwareId, profile: 'bootstrap' }),
    backoff: { minMs: config.SIM_RECONNECT_MIN_MS, maxMs: config.SIM_RECONNECT_MAX_MS },
    rand: createRandom(seedOf(config.SIM_SEED, 'provisioning')),
    signal: opts.signal,
    logger: opts.logger,
  });
}

/** Firmware behaviour from the configuration. */
export function otaOptions(config: SimulatorConfig): OtaOptions {
  return {
    faults: {
      failureRate: config.SIM_OTA_FAILURE_RATE,
      failureRateByVersion: parseVersionRates(config.SIM_OTA_FAILURE_RATE_BY_VERSION),
      badVersionRate: config.SIM_OTA_BAD_VERSION_RATE,
      vanishRate: config.SIM_OTA_VANISH_RATE,
      bootLoopRate: config.SIM_OTA_BOOT_LOOP_RATE,
    },
    installMs: config.SIM_OTA_INSTALL_MS,
    downloadTimeoutMs: config.SIM_OTA_DOWNLOAD_TIMEOUT_MS,
    ...(config.SIM_FIRMWARE_SIGNING_KEY !== undefined && {
      signingKey: createPublicKey(config.SIM_FIRMWARE_SIGNING_KEY),
    }),
  };
}
