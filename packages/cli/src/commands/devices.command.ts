import { type Command, Option } from 'commander';
import { type CliIo } from '../context';
import { type DeviceView, type Page } from '../device.types';
import { renderDevice, renderDeviceList, renderJson } from '../output';
import { type AttrValue, collectAttr, collectTags, parseLimit } from '../parse';
import { type ActionRunner, listAll, printPage } from './command-kit';

const DEVICES = '/api/v1/devices';

interface ListOptions {
  tag?: string;
  deviceType?: string;
  connectivity?: string;
  group?: string;
  firmwareVersion?: string;
  search?: string;
  limit?: number;
  cursor?: string;
  all?: boolean;
}

interface CreateOptions {
  deviceType: string;
  hardwareId: string;
  deviceId?: string;
  hardwareModel?: string;
  tag?: string[];
  attr?: Record<string, AttrValue>;
  idempotencyKey?: string;
}

/** `drover devices list|get|create`: the device registry over REST. */
export function registerDevicesCommand(program: Command, io: CliIo, run: ActionRunner): void {
  const devices = program.command('devices').description('list, show and register devices');

  const list = devices
    .command('list')
    .description('list devices, with filters')
    .option('--tag <tag>', 'only devices with this tag')
    .option('--device-type <type>', 'only this device type')
    .addOption(
      new Option('--connectivity <state>', 'online or offline').choices(['online', 'offline']),
    )
    .option('--group <group-id>', 'only members of this group')
    .option('--firmware-version <version>', 'only devices reporting this firmware version')
    .option('--search <text>', 'substring of the device id or an attribute (the API q parameter)')
    .option('--limit <n>', 'page size, 1-500 (default 50; 500 with --all)', parseLimit)
    .option('--cursor <cursor>', 'the next_cursor of the previous page')
    .option('--all', 'follow next_cursor until the last page');
  run(list, async (client, common) => {
    const opts = list.opts<ListOptions>();
    const query = {
      tag: opts.tag,
      device_type: opts.deviceType,
      connectivity: opts.connectivity,
      group: opts.group,
      firmware_version: opts.firmwareVersion,
      q: opts.search,
      limit: opts.limit ?? (opts.all ? 500 : undefined),
      cursor: opts.cursor,
    };
    const page = opts.all
      ? await listAll<DeviceView>(client, DEVICES, query)
      : await client.request<Page<DeviceView>>({ method: 'GET', path: DEVICES, query });
    printPage(io, common, page, renderDeviceList);
  });

  const get = devices.command('get').description('show one device').argument('<device-id>');
  run(get, async (client, common) => {
    const [id] = get.processedArgs as [string];
    const device = await client.request<DeviceView>({
      method: 'GET',
      path: `${DEVICES}/${encodeURIComponent(id)}`,
    });
    io.stdout(common.json ? renderJson(device) : renderDevice(device));
  });

  const create = devices
    .command('create')
    .description('register a device by hand (devices usually arrive by provisioning)')
    .requiredOption('--device-type <type>', 'the device type, e.g. sensor')
    .requiredOption('--hardware-id <id>', 'the hardware id (serial number)')
    .option('--device-id <id>', 'the device id (default: generated, d-<ulid>)')
    .option('--hardware-model <model>', 'the hardware model')
    .option('--tag <tag>', 'a tag; repeat or comma-separate for more', collectTags)
    .option(
      '--attr <key=value>',
      'an attribute; repeat for more (numbers/booleans as JSON)',
      collectAttr,
    )
    .option(
      '--idempotency-key <key>',
      'retry-safe: a repeat with the same key returns the first answer',
    );
  run(create, async (client, common) => {
    const opts = create.opts<CreateOptions>();
    const device = await client.request<DeviceView>({
      method: 'POST',
      path: DEVICES,
      body: createBody(opts),
      headers: opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : undefined,
    });
    io.stdout(common.json ? renderJson(device) : renderDevice(device));
  });
}

/** The POST body: only the fields given, snake_case as the API expects. */
export function createBody(opts: CreateOptions): Record<string, unknown> {
  const body: Record<string, unknown> = {
    device_type: opts.deviceType,
    hardware_id: opts.hardwareId,
  };
  if (opts.deviceId !== undefined) body.device_id = opts.deviceId;
  if (opts.hardwareModel !== undefined) body.hardware_model = opts.hardwareModel;
  if (opts.tag !== undefined) body.tags = opts.tag;
  if (opts.attr !== undefined) body.attributes = opts.attr;
  return body;
}
