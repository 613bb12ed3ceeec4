import { setTimeout as sleep } from 'node:timers/promises';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type ApiClient } from '../api-client';
import { type CliIo } from '../context';
import { type Column, formatTime, renderJson, renderTable } from '../output';
import { type ActionRunner } from './command-kit';

/** One raw row as the API returns it. */
export interface TelemetryRow {
  /** Device time. */
  ts: string;
  /** When the platform received it. */
  received_at: string;
  /** The device's message id. */
  msg_id: string;
  /** The metrics. */
  metrics: Record<string, unknown>;
}

interface RawPage {
  items: TelemetryRow[];
  next_cursor: string | null;
}

interface BucketAnswer {
  metric: string;
  agg: string;
  bucket: string;
  items: { ts: string; value: unknown }[];
}

interface GetOptions {
  from?: string;
  to?: string;
  metric?: string;
  bucket?: string;
  agg?: string;
  limit?: number;
}

interface TailOptions {
  from?: string;
  interval: number;
  count?: number;
}

const AGGS = ['avg', 'min', 'max', 'sum', 'count', 'last'];
// Device clocks run a little ahead of ours; a tail poll looks this far past now.
const TAIL_AHEAD_MS = 60_000;

const path = (device: string) => `/api/v1/devices/${encodeURIComponent(device)}/telemetry`;

/** Parses a positive integer option up to `max`. */
export function parseCount(max: number) {
  return (input: string): number => {
    const n = Number(input);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      throw new InvalidArgumentError(`expected an integer from 1 to ${max}`);
    }
    return n;
  };
}

const value = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/** `k=v` pairs of a row's metrics, in key order. */
export function formatMetrics(metrics: Record<string, unknown>): string {
  const keys = Object.keys(metrics).sort();
  return keys.length === 0 ? '-' : keys.map((k) => `${k}=${value(metrics[k])}`).join(' ');
}

const rawColumns: Column<TelemetryRow>[] = [
  { header: 'TS', value: (r) => formatTime(r.ts) },
  { header: 'MSG ID', value: (r) => r.msg_id },
  { header: 'METRICS', value: (r) => formatMetrics(r.metrics) },
];
const bucketColumns: Column<{ ts: string; value: unknown }>[] = [
  { header: 'BUCKET', value: (r) => formatTime(r.ts) },
  { header: 'VALUE', value: (r) => value(r.value) },
];

/** `drover telemetry get|tail`: a device's stored telemetry over REST. */
export function registerTelemetryCommand(program: Command, io: CliIo, run: ActionRunner): void {
  const telemetry = program.command('telemetry').description("read a device's telemetry");

  const get = telemetry
    .command('get')
    .description('raw rows, or one metric aggregated in buckets (--metric --bucket --agg)')
    .argument('<device-id>')
    .option('--from <time>', 'RFC 3339 start (default: an hour before --to)')
    .option('--to <time>', 'RFC 3339 end, exclusive (default: now)')
    .option('--metric <name>', 'the metric to aggregate')
    .option('--bucket <size>', 'bucket size, e.g. 30s, 1m, 1h')
    .addOption(new Option('--agg <fn>', 'aggregate').choices(AGGS))
    .option('--limit <n>', 'raw rows, 1-1000 (default 100)', parseCount(1000));
  run(get, async (client, common) => {
    const [device] = get.processedArgs as [string];
    const o = get.opts<GetOptions>();
    const query = {
      from: o.from,
      to: o.to,
      metric: o.metric,
      bucket: o.bucket,
      agg: o.agg,
      limit: o.metric === undefined ? o.limit : undefined,
    };
    const answer = await client.request<RawPage | BucketAnswer>({
      method: 'GET',
      path: path(device),
      query,
    });
    if (common.json) io.stdout(renderJson(answer));
    else if ('metric' in answer) io.stdout(renderTable(answer.items, bucketColumns));
    else io.stdout(renderTable(answer.items, rawColumns));
  });

  const tail = telemetry
    .command('tail')
    .description('print new rows as they arrive (polls the raw endpoint; Ctrl-C stops)')
    .argument('<device-id>')
    .option('--from <time>', 'RFC 3339 time to start at (default: now)')
    .option('--interval <ms>', 'poll interval in ms (default 1000)', parseCount(60_000), 1000)
    .option('--count <n>', 'stop after this many rows', parseCount(1_000_000));
  run(tail, async (client, common) => {
    const [device] = tail.processedArgs as [string];
    const o = tail.opts<TailOptions>();
    const print = (r: TelemetryRow) =>
      io.stdout(
        common.json
          ? `${JSON.stringify(r)}\n`
          : `${formatTime(r.ts)}  ${r.msg_id}  ${formatMetrics(r.metrics)}\n`,
      );
    await tailRows(client, path(device), { ...o, from: o.from ?? new Date().toISOString() }, print);
  });
}

/**
 * Polls `[from, now + 1 min)` every `interval` ms, paging with the cursor, and hands each row
 * once to `print`. The next poll starts at the newest `ts` seen, in ms (inclusive, since more rows may
 * share it), skipping the msg_ids already printed in that millisecond.
 */
export async function tailRows(
  client: ApiClient,
  rawPath: string,
  o: { from: string; interval: number; count?: number },
  print: (row: TelemetryRow) => void,
): Promise<void> {
  // Milliseconds: the API's time resolution for `from`, while stored times carry microseconds.
  let fromMs = Date.parse(o.from);
  let atFrom = new Set<string>();
  let printed = 0;
  for (;;) {
    let cursor: string | undefined;
    const from = new Date(fromMs).toISOString();
    do {
      const to = new Date(Date.now() + TAIL_AHEAD_MS).toISOString();
      const page = await client.request<RawPage>({
        method: 'GET',
        path: rawPath,
        query: { from, to, limit: 1000, cursor },
      });
      for (const row of page.items) {
        const rowMs = Math.floor(Date.parse(row.ts));
        if (rowMs === fromMs && atFrom.has(row.msg_id)) continue;
        if (rowMs !== fromMs) {
          fromMs = rowMs;
          atFrom = new Set();
        }
        atFrom.add(row.msg_id);
        print(row);
        printed += 1;
        if (o.count !== undefined && printed >= o.count) return;
      }
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
    await sleep(o.interval);
  }
}
