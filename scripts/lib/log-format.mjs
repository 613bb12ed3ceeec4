// Readable logs for `npm start`: each child's pino JSON lines become
// `HH:MM:SS service level msg key=val…`, one color per service; other lines pass through.

const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
const SERVICE_COLORS = [
  '\x1b[36m',
  '\x1b[35m',
  '\x1b[32m',
  '\x1b[34m',
  '\x1b[33m',
  '\x1b[96m',
  '\x1b[95m',
  '\x1b[92m',
];
const LEVEL_COLORS = {
  trace: DIM,
  debug: DIM,
  info: '',
  warn: '\x1b[33m',
  error: '\x1b[31m',
  fatal: '\x1b[41m\x1b[97m',
};
const PINO_LEVELS = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

// Fields already shown in the prefix, or noise for a terminal.
const HIDDEN = new Set([
  'time',
  'level',
  'msg',
  'message',
  'service',
  'pid',
  'hostname',
  'v',
  'err',
]);

/** Whether to color: a terminal, and neither NO_COLOR nor FORCE_COLOR=0. */
export function useColor(stream = process.stdout, env = process.env) {
  if (env.NO_COLOR || env.FORCE_COLOR === '0') return false;
  return Boolean(env.FORCE_COLOR) || Boolean(stream.isTTY);
}

function levelName(level) {
  if (typeof level === 'number') return PINO_LEVELS[level] ?? String(level);
  return typeof level === 'string' ? level : 'info';
}

function clock(time) {
  const date = time === undefined ? new Date() : new Date(time);
  if (Number.isNaN(date.getTime())) return String(time);
  return date.toTimeString().slice(0, 8);
}

function formatValue(value) {
  if (typeof value === 'string')
    return /[\s="]/.test(value) || value === '' ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

/** Parses a JSON log line; null when the line is not a JSON object with a level. */
export function parseLogLine(line) {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return null;
  try {
    const entry = JSON.parse(trimmed);
    return entry && typeof entry === 'object' && 'level' in entry ? entry : null;
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    // Half a line or a stray brace: shown as it came.
    return null;
  }
}

/**
 * Returns `format(service, line)` for the given service names (fixes the name column width
 * and each service's color).
 */
export function createLogFormatter(services, { color = false } = {}) {
  const width = Math.max(8, ...services.map((s) => s.length));
  const colors = new Map(services.map((s, i) => [s, SERVICE_COLORS[i % SERVICE_COLORS.length]]));
  const paint = (code, text) => (color && code ? `${code}${text}${RESET}` : text);

  return function format(service, line) {
    const name = paint(colors.get(service) ?? SERVICE_COLORS[0], service.padEnd(width));
    const entry = parseLogLine(line);
    if (!entry) return `${paint(DIM, clock())} ${name} ${line}`;
    const level = levelName(entry.level);
    const fields = Object.entries(entry)
      .filter(([key, value]) => !HIDDEN.has(key) && value !== undefined && value !== null)
      .map(([key, value]) => `${paint(DIM, `${key}=`)}${formatValue(value)}`);
    const err = entry.err;
    if (err && typeof err === 'object') fields.push(`err=${formatValue(err.message ?? err)}`);
    const msg = entry.msg ?? entry.message ?? '';
    let out = [
      paint(DIM, clock(entry.time)),
      name,
      paint(LEVEL_COLORS[level], level.padEnd(5)),
      msg,
      ...fields,
    ]
      .filter((part) => part !== '')
      .join(' ');
    // A stack trace is what an operator needs when a service fails; indent it under the line.
    if (err && typeof err === 'object' && typeof err.stack === 'string' && entry.level >= 50) {
      out += `\n${err.stack.replace(/^/gm, '    ')}`;
    }
    return out;
  };
}
