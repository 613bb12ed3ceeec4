// The simulator: registers the fleet, brings devices up in waves and keeps them living until
// stopped. Everything is started in the background so the ops server answers from the start.
import { createPublicKey } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { readFile } from 'node:fs/promises';
import { type Bus, connectBus } from '@drover/bus';
import { type Logger, type Metrics, createMetrics } from '@drover/observability';
import {
  type CertificateAuthority,
  FileSecretStore,
  issueClientCertificate,
  loadOrCreatePki,
} from '@drover/pki';
import type { SimulatorConfig } from './config';
import { faultDraw } from './domain/fault-profile';
import { parseVersionRates } from './domain/firmware';
import { planFleet, waves } from './domain/fleet-plan';
import { createRandom, seedOf } from './domain/random';
import { type DeviceIdentitySource, plainBrokerIdentity } from './identity-source';
import { provisionedIdentity } from './provisioning';
import { enrollFleet, registerFleet } from './registration';
import { type OtaOptions, VirtualDevice } from './virtual-device';

/** The service name (logs, metrics, NATS connection). */
export const SERVICE_NAME = 'device-simulator';

/** Collaborators of the simulator. */
export interface SimulatorDeps {
  /** Logger. */
  logger: Logger;
  /** Metrics (default: a fresh registry). */
  metrics?: Metrics;
  /** How devices reach the broker (default: the plain broker at MQTT_URL, or provisioning). */
  identity?: DeviceIdentitySource;
  /** Bootstrap CA for SIM_PROVISIONING (default: the one in PKI_DIR). */
  bootstrapCa?: CertificateAuthority;
}

/** A running simulator. */
export interface DeviceSimulator {
  /** Resolves when every device has been registered and is online; rejects if that fails. */
  up: Promise<void>;
  /** Devices of the fleet. */
  devices: readonly VirtualDevice[];
  /** Devices online now. */
  onlineCount(): number;
  /** Readiness checks for the ops server (ready when the whole fleet is online). */
  checks: Record<string, () => Promise<boolean>>;
  /** Stops telemetry, publishes offline status, ends every client and the bus. */
  stop(): Promise<void>;
}

/** Starts the simulator described by `config`. */
export async function startDeviceSimulator(
  config: SimulatorConfig,
  deps: SimulatorDeps,
): Promise<DeviceSimulator> {
  const { logger } = deps;
  const metrics = deps.metrics ?? createMetrics({ service: SERVICE_NAME });
  const connected = metrics.gauge('drover_sim_devices_connected', 'Simulated devices online');
  const sent = metrics.counter('drover_sim_messages_sent_total', 'Messages published', ['channel']);
  const abort = new AbortController();
  // One listener per pending retry sleep: a wave of them is expected, not a leak.
  setMaxListeners(0, abort.signal);
  const identity =
    deps.identity ??
    (config.SIM_PROVISIONING
      ? await provisioningIdentity(config, deps.bootstrapCa, abort.signal, logger)
      : plainBrokerIdentity(config.MQTT_URL));
  const bus: Bus | null = config.SIM_REGISTER
    ? await connectBus({
        url: config.NATS_URL as string,
        name: SERVICE_NAME,
        namespace: config.DROVER_NAMESPACE,
        logger,
      })
    : null;
  const specs = planFleet({
    tenant: config.SIM_TENANT,
    size: config.FLEET_SIZE,
    seed: config.SIM_SEED,
  });
  const runId = Date.now().toString(36);
  const faults = {
    commandFailureRate: config.SIM_COMMAND_FAILURE_RATE,
    malformedRate: config.SIM_MALFORMED_RATE,
    flapRate: config.SIM_FLAP_RATE,
  };
  const ota = otaOptions(config);
  let online = 0;
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
        runId,
        identity,
        faults: faultDraw(faults, createRandom(seedOf(spec.seed, 'faults'))),
        rand: createRandom(spec.seed),
        reconnect: { minMs: config.SIM_RECONNECT_MIN_MS, maxMs: config.SIM_RECONNECT_MAX_MS },
        reannounceAfterProvisioningMs: config.SIM_REANNOUNCE_AFTER_PROVISIONING_MS,
        logger,
        onSent: (channel) => sent.inc({ channel }),
        onConnection: (up) => {
          online += up ? 1 : -1;
          connected.set(online);
        },
      }),
  );
  connected.set(0);
  const started: VirtualDevice[] = [];

  const bringUp = async () => {
    if (bus && config.SIM_PROVISIONING) {
      // Provisioning registers the devices; the hardware ids must be enrolled for it.
      await enrollFleet(bus, specs, {
        tenant: config.SIM_TENANT,
        deviceType: config.SIM_DEVICE_TYPE,
        rand: createRandom(seedOf(config.SIM_SEED, 'enrollment')),
        signal: abort.signal,
        logger,
      });
      logger.info({ event: 'sim.enrolled', devices: specs.length }, 'fleet enrolled');
    } else if (bus) {
      const registered = await registerFleet(bus, specs, {
        tenant: config.SIM_TENANT,
        deviceType: config.SIM_DEVICE_TYPE,
        concurrency: config.SIM_WAVE_SIZE,
        rand: createRandom(seedOf(config.SIM_SEED, 'registration')),
        signal: abort.signal,
        logger,
      });
      logger.info({ event: 'sim.registered', ...registered }, 'fleet registered');
    }
    // One wave after the other: a gentle start for the broker and the ingress.
    for (const wave of waves(devices, config.SIM_WAVE_SIZE)) {
      abort.signal.throwIfAborted();
      started.push(...wave);
      await Promise.all(wave.map((d) => d.start()));
    }
    logger.info({ event: 'sim.online', devices: devices.length }, 'fleet online');
  };
  const up = bringUp();
  // Stop aborts the bring-up; that is not a failure worth a log line.
  up.catch((err: unknown) => {
    if (!abort.signal.aborted) logger.error({ err }, 'bringing the fleet up failed');
  });

  return {
    up,
    devices,
    onlineCount: () => online,
    checks: { fleet: () => Promise.resolve(devices.length > 0 ? online === devices.length : true) },
    async stop() {
      abort.abort();
      await Promise.all(started.map((d) => d.stop()));
      await bus?.close();
    },
  };
}

/** Firmware behaviour from the configuration. */
export function otaOptions(config: SimulatorConfig): OtaOptions {
  return {
    faults: {
      failureRate: config.SIM_OTA_FAILURE_RATE,
      failureRateByVersion: parseVersionRates(config.SIM_OTA_FAILURE_RATE_BY_VERSION),
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

/** Provisioning over mTLS with bootstrap certificates from the bootstrap CA (the "factory"). */
async function provisioningIdentity(
  config: SimulatorConfig,
  bootstrapCa: CertificateAuthority | undefined,
  signal: AbortSignal,
  logger: Logger,
): Promise<DeviceIdentitySource> {
  const ca = bootstrapCa ?? (await loadOrCreatePki(new FileSecretStore(config.PKI_DIR))).bootstrap;
  return provisionedIdentity({
    provisioningUrl: config.SIM_PROVISIONING_URL,
    fleetUrl: config.SIM_FLEET_MQTT_URL,
    ca: await readFile(config.SIM_BROKER_CA_FILE, 'utf8'),
    deviceType: config.SIM_DEVICE_TYPE,
    topicPrefix: config.MQTT_TOPIC_PREFIX,
    bootstrapFor: (device) =>
      issueClientCertificate(ca, { commonName: device.hardwareId, profile: 'bootstrap' }),
    backoff: { minMs: config.SIM_RECONNECT_MIN_MS, maxMs: config.SIM_RECONNECT_MAX_MS },
    rand: createRandom(seedOf(config.SIM_SEED, 'provisioning')),
    signal,
    logger,
  });
}
