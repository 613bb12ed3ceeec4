import { type Command } from 'commander';
import { type ApiClient } from '../api-client';
import { type CliIo, type CommonOptions } from '../context';
import { formatTime, orDash, renderJson, renderRecord } from '../output';
import { type ActionRunner } from './command-kit';

/** A command as `GET /api/v1/commands/{id}` returns it. */
export interface CommandView {
  /** Command id. */
  command_id: string;
  /** Target device. */
  device_id: string;
  /** Name. */
  name: string;
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
}

const FINAL = new Set(['succeeded', 'failed', 'rejected', 'timed_out', 'expired', 'dead_lettered']);

interface SendOptions {
  params?: string;
  timeout?: number;
  expiresIn?: number;
  idempotencyKey?: string;
  wait?: boolean;
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

function renderCommand(c: CommandView): string {
  return renderRecord([
    ['command_id', c.command_id],
    ['device_id', c.device_id],
    ['name', c.name],
    ['status', c.status],
    ['attempts', String(c.attempts)],
    ['created_at', formatTime(c.created_at)],
    ['sent_at', formatTime(c.sent_at)],
    ['completed_at', formatTime(c.completed_at)],
    ['rtt_ms', orDash(c.rtt_ms)],
    ['result', c.result === null ? '-' : JSON.stringify(c.result)],
    ['error', orDash(c.error)],
  ]);
}

async function getCommand(client: ApiClient, id: string): Promise<CommandView> {
  return client.request<CommandView>({
    method: 'GET',
    path: `/api/v1/commands/${encodeURIComponent(id)}`,
  });
}

function print(io: CliIo, common: CommonOptions, c: CommandView): void {
  io.stdout(common.json ? renderJson(c) : renderCommand(c));
}

/** `drover commands send|get`: commands to devices over REST. */
export function registerCommandsCommand(program: Command, io: CliIo, run: ActionRunner): void {
  const commands = program.command('commands').description('send commands to devices');

  const send = commands
    .command('send')
    .description('send a command to a device (queued until it is online)')
    .argument('<device-id>')
    .argument('<name>')
    .option('--params <json>', 'parameters as a JSON object')
    .option('--timeout <s>', 'seconds from sending to timed_out', Number)
    .option('--expires-in <s>', 'never send after this many seconds', Number)
    .option('--idempotency-key <key>', 'retry-safe: the same key sends the command once')
    .option('--wait', 'poll until the command reaches a final state');
  run(send, async (client, common) => {
    const [deviceId, name] = send.processedArgs as [string, string];
    const opts = send.opts<SendOptions>();
    const accepted = await client.request<{ command_id: string; status: string }>({
      method: 'POST',
      path: `/api/v1/devices/${encodeURIComponent(deviceId)}/commands`,
      body: {
        name,
        ...(opts.params !== undefined && { params: parseParams(opts.params) }),
        ...(opts.timeout !== undefined && { timeout_s: opts.timeout }),
        ...(opts.expiresIn !== undefined && { expires_in_s: opts.expiresIn }),
      },
      headers: opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : undefined,
    });
    if (!opts.wait) {
      io.stdout(common.json ? renderJson(accepted) : accepted.command_id);
      return;
    }
    let c = await getCommand(client, accepted.command_id);
    while (!FINAL.has(c.status)) {
      // The API has no long poll yet; 250 ms is well under the command round trip objective.
      await new Promise((r) => setTimeout(r, 250));
      c = await getCommand(client, accepted.command_id);
    }
    print(io, common, c);
  });

  const get = commands.command('get').description('show one command').argument('<command-id>');
  run(get, async (client, common) => {
    const [id] = get.processedArgs as [string];
    print(io, common, await getCommand(client, id));
  });
}
