// COMMANDS stream → devices: `iot.cmd.<t>.<id>` to `<root>/cmd` (QoS 1) and
// `iot.desired.<t>.<id>` to `<root>/state/desired` (QoS 1, retained). The JetStream message is
// acked only after the broker's PUBACK. Messages for one device are handed to the broker one
// after another in stream order (the next waits for the previous PUBACK); different devices
// proceed in parallel.
import {
  type Naming,
  commandFilter,
  desiredFilter,
  deviceRoot,
  deviceTopic,
  parseCommandSubject,
  parseDesiredSubject,
} from '@drover/contracts';
import { type Bus, type Consumer, consume } from '@drover/bus';
import { NotFoundError, ValidationError } from '@drover/service-kit';
import { type Logger } from '@drover/observability';
import { type DeviceMetaLookup } from '../registry/device-meta.cache';
import { type Egress } from '../mqtt/egress.connection';
import { type IngressMetrics } from '../../ingress.metrics';
import { KeyedSerializer } from '../../keyed-serializer';
import { type CommandSentReporter } from './command-sent.reporter';

/** Durable consumer names on COMMANDS. */
export const COMMANDS_DURABLE = 'mqtt-ingress-commands';
/** Durable consumer for desired state. */
export const DESIRED_DURABLE = 'mqtt-ingress-desired';

/** Handlers running at once per consumer (devices in parallel; one device waits its turn). */
export const FORWARDER_CONCURRENCY = 64;

/** Options of `startCommandForwarders`. */
export interface ForwarderOptions {
  /** Connected bus. */
  bus: Bus;
  /** Naming of the install. */
  naming: Naming;
  /** MQTT topic prefix ('' = none). */
  prefix: string;
  /** Device meta (for the device type in the topic). */
  meta: DeviceMetaLookup;
  /** MQTT publisher. */
  egress: Egress;
  /** Series. */
  metrics: IngressMetrics;
  /** Logger. */
  logger: Logger;
  /** Told after each command's PUBACK (the command gateway's `sent`). */
  onCommandSent?: CommandSentReporter;
}

/** Starts both consumers; returns them for shutdown. */
export async function startCommandForwarders(opts: ForwarderOptions): Promise<Consumer[]> {
  const { naming, prefix } = opts;
  // One serializer per consumer: a device's commands in order, its desired state in order.
  const order = { cmd: new KeyedSerializer(), 'state/desired': new KeyedSerializer() };
  const forward = async (
    address: { tenant: string; deviceId: string } | null,
    channel: 'cmd' | 'state/desired',
    data: Uint8Array,
  ): Promise<void> => {
    if (address === null) throw new ValidationError('bad_subject', 'not a device subject');
    const meta = await order[channel].run(`${address.tenant}/${address.deviceId}`, async () => {
      const m = await opts.meta.get(address.tenant, address.deviceId);
      if (m === null || m.status !== 'active') {
        throw new NotFoundError('device_not_found', `no active device ${address.deviceId}`);
      }
      const root = deviceRoot({ ...address, deviceType: m.deviceType }, prefix || undefined);
      await opts.egress.publish(deviceTopic(root, channel), Buffer.from(data), channel !== 'cmd');
      return m;
    });
    // The report does not hold up the device's next command.
    if (channel === 'cmd')
      await opts.onCommandSent?.({ ...address, deviceType: meta.deviceType }, data);
    opts.metrics.commands.inc({ kind: channel === 'cmd' ? 'command' : 'desired' });
  };
  const commands = await consume(opts.bus, {
    stream: 'COMMANDS',
    durable: COMMANDS_DURABLE,
    filterSubjects: [commandFilter(naming)],
    concurrency: FORWARDER_CONCURRENCY,
    logger: opts.logger,
    handler: (msg) => forward(parseCommandSubject(msg.subject, naming), 'cmd', msg.data),
  });
  const desired = await consume(opts.bus, {
    stream: 'COMMANDS',
    durable: DESIRED_DURABLE,
    filterSubjects: [desiredFilter(naming)],
    concurrency: FORWARDER_CONCURRENCY,
    logger: opts.logger,
    handler: (msg) => forward(parseDesiredSubject(msg.subject, naming), 'state/desired', msg.data),
  });
  return [commands, desired];
}
