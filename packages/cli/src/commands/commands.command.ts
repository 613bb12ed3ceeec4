import { type Command, Option } from 'commander';
import { COMMAND_STATUSES, FINAL_COMMAND_STATUSES } from '@drover/contracts';
import { type ApiClient } from '../api-client';
import { type CliIo, type CommonOptions } from '../context';
import { type Page } from '../device.types';
import { type Column, formatTime, orDash, renderJson, renderRecord, renderTable } from '../output';
import { parseLimit } from '../parse';
import { type ActionRunner, listAll, printPage } from './command-kit';

/** A command as `GET /api/v1/commands/{id}` returns it. */
export interface CommandView {
  /** Command id. */
  command_id: string;
  /** Target device. */
  device_id: string;
  /** Name. */
  name: string;
  /** Parameters. */
  params: Record<string, unknown>;
  /** State. */
  status: string;
  /** Hand-overs to the broker. */
  attempts: number;
  /** Created. */
  created_at: string;
  /** Broker ack. */
  sent_at: string | null;
  /** Final state reached. */
  completed_at: string | null;
  /** Device result. */
  result: Record<string, unknown> | null;
  /** Device error or platform reason. */
  error: string | null;
  /** Sent -> result (ms). */
  rtt_ms: number | null;
  /** Never sent after this. */
  expires_at: string;
  /** Sending -> timed_out (s). */
  timeout_s: number;
  /** The group fan-out it belongs to. */
  fanout_id: string | null;
}

/** A group fan-out as `GET /api/v1/fanouts/{id}` returns it. */
export interface FanoutView {
  /** Fan-out id. */
  fanout_id: string;
  /** Target group. */
  group_id: string;
  /** Command name. */
  name: string;
  /** Release rate (commands/s). */
  rate_per_s: number;
  /** Commands made (one per active member). */
  total: number;
  /** Created. */
  created_at: string;
  /** Commands per state. */
  counts: Record<string, number>;
  /** Every command reached a final state. */
  done: boolean;
}

const STATES = COMMAND_STATUSES as readonly string[];
const isFinal = (status: string): boolean =>
  (FINAL_COMMAND_STATUSES as readonly string[]).includes(status);
// Commands and fan-outs are long-polled this long per request (the API allows 30 s).
const LONG_POLL_S = 25;

interface CommandOptions {
  params?: string;
  timeout?: number;
  expiresIn?: number;
  idempotencyKey?: string;
  wait?: boolean;
}

interface FanoutOptions extends CommandOptions {
  rate?: number;
}

interface ListOptions {
  device?: string;
  status?: string;
  fanout?: string;
  limit?: number;
  cursor?: string;
  all?: boolean;
}

/** Parses `--params` (a JSON object). */
export function parseParams(input: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(input);
  } catch (err) {
    throw new Error(`--params must be JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('--params must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** The body fields a send and a fan-out share, from their options. */
function commandBody(name: string, opts: CommandOptions): Record<string, unknown> {
  return {
    name,
    ...(opts.params !== undefined && { params: parseParams(opts.params) }),
    ...(opts.timeout !== undefined && { timeout_s: opts.timeout }),
    ...(opts.expiresIn !== undefined && { expires_in_s: opts.expiresIn }),
  };
}

/** The options a send and a fan-out share. */
function withCommandOptions(cmd: Command): Command {
  return cmd
    .option('--params <json>', 'parameters as a JSON object')
    .option('--timeout <s>', 'seconds from sending to timed_out', Number)
    .option('--expires-in <s>', 'never send after this many seconds', Number)
    .option('--idempotency-key <key>', 'retry-safe: the same key sends once');
}

const idempotencyHeader = (opts: CommandOptions) =>
  opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : undefined;

const commandColumns: Column<CommandView>[] = [
  { header: 'COMMAND ID', value: (c) => c.command_id },
  { header: 'DEVICE ID', value: (c) => c.device_id },
  { header: 'NAME', value: (c) => c.name },
  { header: 'STATUS', value: (c) => c.status },
  { header: 'ATTEMPTS', value: (c) => String(c.attempts) },
  { header: 'CREATED', value: (c) => formatTime(c.created_at) },
  { header: 'RTT MS', value: (c) => orDash(c.rtt_ms) },
];

/** Commands as a table. */
export function renderCommandList(items: readonly CommandView[]): string {
  return renderTable(items, commandColumns);
}

/** A fan-out as key/value rows, its counts in state order. */
export function renderFanout(f: FanoutView): string {
  const counts = Object.entries(f.counts)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => STATES.indexOf(a) - STATES.indexOf(b))
    .map(([state, n]) => `${state}=${n}`)
    .join(' ');
  return renderRecord([
    ['fanout_id', f.fanout_id],
    ['group_id', f.group_id],
    ['name', f.name],
    ['rate_per_s', String(f.rate_per_s)],
    ['total', String(f.total)],
    ['created_at', formatTime(f.created_at)],
    ['counts', counts === '' ? '-' : counts],
    ['done', String(f.done)],
  ]);
}

function renderCommand(c: CommandView): string {
  return renderRecord([
    ['command_id', c.command_id],
    ['device_id', c.device_id],
    ['name', c.name],
    ['params', JSON.stringify(c.params)],
    ['status', c.status],
    ['attempts', String(c.attempts)],
    ['created_at', formatTime(c.created_at)],
    ['expires_at', formatTime(c.expires_at)],
    ['timeout_s', String(c.timeout_s)],
    ['sent_at', formatTime(c.sent_at)],
    ['completed_at', formatTime(c.completed_at)],
    ['rtt_ms', orDash(c.rtt_ms)],
    ['result', c.result === null ? '-' : JSON.stringify(c.result)],
    ['error', orDash(c.error)],
    ['fanout_id', orDash(c.fanout_id)],
  ]);
}

/** A command; with `waitS`, once it is final or `waitS` has passed (the API's long poll). */
async function getCommand(client: ApiClient, id: string, waitS?: number): Promise<CommandView> {
  return client.request<CommandView>({
    method: 'GET',
    path: `/api/v1/commands/${encodeURIComponent(id)}`,
    ...(waitS !== undefined && { query: { wait_s: waitS }, timeoutMs: (waitS + 10) * 1000 }),
  });
}

/** A fan-out; with `waitS`, once every command is final or `waitS` has passed (long poll). */
async function getFanout(client: ApiClient, id: string, waitS?: number): Promise<FanoutView> {
  return client.request<FanoutView>({
    method: 'GET',
    path: `/api/v1/fanouts/${encodeURIComponent(id)}`,
    ...(waitS !== undefined && { query: { wait_s: waitS }, timeoutMs: (waitS + 10) * 1000 }),
  });
}

function print(io: CliIo, common: CommonOptions, c: CommandView): void {
  io.stdout(common.json ? renderJson(c) : renderCommand(c));
}

function printFanout(io: CliIo, common: CommonOptions, f: FanoutView): void {
  io.stdout(common.json ? renderJson(f) : renderFanout(f));
}

/** `drover commands …`: send, get, list, fan out, cancel and follow commands over REST. */
export function registerCommandsCommand(program: Command, io: CliIo, run: ActionRunner): void {
  const commands = program.command('commands').description('send commands to devices');

  const send = withCommandOptions(
    commands
      .command('send')
      .description('send a command to a device (queued until it is online)')
      .argument('<device-id>')
      .argument('<name>'),
  ).option('--wait', 'wait (long poll) until the command reaches a final state; print it');
  run(send, async (client, common) => {
    const [deviceId, name] = send.processedArgs as [string, string];
    const opts = send.opts<CommandOptions>();
    const accepted = await client.request<{ command_id: string; status: string }>({
      method: 'POST',
      path: `/api/v1/devices/${encodeURIComponent(deviceId)}/commands`,
      body: commandBody(name, opts),
      headers: idempotencyHeader(opts),
    });
    if (!opts.wait) {
      io.stdout(common.json ? renderJson(accepted) : `${accepted.command_id}\n`);
      return;
    }
    // Long polls: each answers as soon as the command is final.
    let c = await getCommand(client, accepted.command_id, LONG_POLL_S);
    while (!isFinal(c.status)) c = await getCommand(client, accepted.command_id, LONG_POLL_S);
    print(io, common, c);
  });

  const get = commands.command('get').description('show one command').argument('<command-id>');
  run(get, async (client, common) => {
    const [id] = get.processedArgs as [string];
    print(io, common, await getCommand(client, id));
  });

  const list = commands
    .command('list')
    .description("list commands, newest first: a device's, a fan-out's, by state")
    .option('--device <device-id>', "only this device's commands")
    .addOption(new Option('--status <state>', 'only commands in this state').choices(STATES))
    .option('--fanout <fanout-id>', "only this fan-out's commands")
    .option('--limit <n>', 'page size, 1-500 (default 50; 500 with --all)', parseLimit)
    .option('--cursor <cursor>', 'the next_cursor of the previous page')
    .option('--all', 'follow next_cursor until the last page');
  run(list, async (client, common) => {
    const opts = list.opts<ListOptions>();
    const path =
      opts.device === undefined
        ? '/api/v1/commands'
        : `/api/v1/devices/${encodeURIComponent(opts.device)}/commands`;
    const query = {
      status: opts.status,
      fanout_id: opts.fanout,
      limit: opts.limit ?? (opts.all ? 500 : undefined),
      cursor: opts.cursor,
    };
    const page = opts.all
      ? await listAll<CommandView>(client, path, query)
      : await client.request<Page<CommandView>>({ method: 'GET', path, query });
    printPage(io, common, page, renderCommandList);
  });

  const fanout = withCommandOptions(
    commands
      .command('fanout')
      .description('send a command to every device of a group, rate limited')
      .argument('<group-id>')
      .argument('<name>'),
  )
    .option('--rate <n>', 'commands per second (default 100)', Number)
    .option(
      '--wait',
      "wait (long poll) until every command reached a final state; print the fan-out's counts",
    );
  run(fanout, async (client, common) => {
    const [groupId, name] = fanout.processedArgs as [string, string];
    const opts = fanout.opts<FanoutOptions>();
    let f = await client.request<FanoutView>({
      method: 'POST',
      path: `/api/v1/groups/${encodeURIComponent(groupId)}/commands`,
      body: {
        ...commandBody(name, opts),
        ...(opts.rate !== undefined && { rate_per_s: opts.rate }),
      },
      headers: idempotencyHeader(opts),
    });
    if (!opts.wait) {
      io.stdout(common.json ? renderJson(f) : `${f.fanout_id}\n`);
      return;
    }
    while (!f.done) f = await getFanout(client, f.fanout_id, LONG_POLL_S);
    printFanout(io, common, f);
  });

  // The three cancels: one id argument, an optional reason, a POST, and how to show the answer.
  const cancelCommand = <T>(
    name: string,
    description: string,
    argument: string,
    path: (id: string) => string,
    show: (common: CommonOptions, answer: T) => void,
  ): void => {
    const cmd = commands
      .command(name)
      .description(description)
      .argument(argument)
      .option('--reason <text>', "why: kept as each withdrawn command's error");
    run(cmd, async (client, common) => {
      const [id] = cmd.processedArgs as [string];
      const { reason } = cmd.opts<{ reason?: string }>();
      const answer = await client.request<T>({
        method: 'POST',
        path: path(encodeURIComponent(id)),
        body: reason === undefined ? {} : { reason },
      });
      show(common, answer);
    });
  };
  cancelCommand<CommandView>(
    'cancel',
    'withdraw a command not handed to the broker yet (it is never sent)',
    '<command-id>',
    (id) => `/api/v1/commands/${id}/cancel`,
    (common, c) => print(io, common, c),
  );
  cancelCommand<FanoutView>(
    'cancel-fanout',
    "withdraw a fan-out's commands not handed over yet; the others go on",
    '<fanout-id>',
    (id) => `/api/v1/fanouts/${id}/cancel`,
    (common, f) => printFanout(io, common, f),
  );
  cancelCommand<{ device_id: string; cancelled: number }>(
    'cancel-device',
    "withdraw a device's commands not handed over yet (those waiting for it)",
    '<device-id>',
    (id) => `/api/v1/devices/${id}/commands/cancel`,
    (common, r) =>
      io.stdout(
        common.json ? renderJson(r) : `${r.cancelled} command(s) of ${r.device_id} cancelled\n`,
      ),
  );

  const progress = commands
    .command('progress')
    .description("a fan-out's progress: its commands counted by state")
    .argument('<fanout-id>')
    .option('--wait', 'wait (long poll) until every command reached a final state');
  run(progress, async (client, common) => {
    const [id] = progress.processedArgs as [string];
    let f = await getFanout(client, id);
    if (progress.opts<{ wait?: boolean }>().wait) {
      while (!f.done) f = await getFanout(client, id, LONG_POLL_S);
    }
    printFanout(io, common, f);
  });
}
