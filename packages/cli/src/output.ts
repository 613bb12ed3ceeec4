import Table from 'cli-table3';
import { type DeviceView } from './device.types';

/** A column of a list table: its heading and how to render a row's cell. */
export interface Column<T> {
  /** The heading. */
  header: string;
  /** Renders the cell. */
  value: (row: T) => string;
}

const plain = { head: [], border: [] };
// No rule between the rows of a key/value table: it would double its height.
const compact = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

/** Renders rows as a table with headings; an empty list renders a one-line note. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  if (rows.length === 0) return '(none)\n';
  const table = new Table({ head: columns.map((c) => c.header), style: plain });
  for (const row of rows) table.push(columns.map((c) => c.value(row)));
  return `${table.toString()}\n`;
}

/** Renders an object's fields as a two-column key/value table. */
export function renderRecord(record: ReadonlyArray<[string, string]>): string {
  const table = new Table({ style: plain, chars: compact });
  for (const [key, value] of record) table.push({ [key]: value });
  return `${table.toString()}\n`;
}

/** Pretty JSON, the form `--json` prints. */
export function renderJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** A missing value as a dash so columns stay readable. */
export function orDash(value: string | number | null | undefined): string {
  return value === null || value === undefined || value === '' ? '-' : String(value);
}

/** An RFC 3339 time as `YYYY-MM-DD HH:MM:SS` UTC; anything unparsable as given. */
export function formatTime(value: string | null | undefined): string {
  if (!value) return '-';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

export function formatAttributes(attrs: Record<string, unknown> | null | undefined): string {
  const entries = Object.entries(attrs ?? {});
  if (entries.length === 0) return '-';
  return entries.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
}

export const deviceColumns: Column<DeviceView>[] = [
  { header: 'DEVICE ID', value: (d) => d.device_id },
  { header: 'TYPE', value: (d) => d.device_type },
  { header: 'STATUS', value: (d) => d.status },
  { header: 'CONNECTIVITY', value: (d) => d.connectivity },
  { header: 'FIRMWARE', value: (d) => orDash(d.firmware_version) },
  { header: 'LAST SEEN', value: (d) => formatTime(d.last_seen) },
  { header: 'TAGS', value: (d) => (d.tags?.length ? d.tags.join(',') : '-') },
];

export function renderDeviceList(devices: readonly DeviceView[]): string {
  return renderTable(devices, deviceColumns);
}

export function renderDevice(d: DeviceView): string {
  const cert = d.certificate;
  return renderRecord([
    ['device_id', d.device_id],
    ['tenant', d.tenant],
    ['device_type', d.device_type],
    ['hardware_model', orDash(d.hardware_model)],
    ['status', d.status],
    ['connectivity', d.connectivity],
    ['last_seen', formatTime(d.last_seen)],
    ['firmware_version', orDash(d.firmware_version)],
    ['tags', d.tags?.length ? d.tags.join(', ') : '-'],
    ['attributes', formatAttributes(d.attributes)],
    [
      'certificate',
      cert ? `${cert.serial} ${cert.status}, expires ${formatTime(cert.not_after)}` : '-',
    ],
    ['created_at', formatTime(d.created_at)],
    ['updated_at', formatTime(d.updated_at)],
  ]);
}
