// The servers the platform needs: their probes (probes.mjs), how each is started on this
// machine, and the report `scripts/check-servers.mjs` and `npm start` print.
import { existsSync, readdirSync } from 'node:fs';
import {
  DEFAULT_URLS,
  TIMEOUT_MS,
  checkMqtt,
  checkNats,
  checkPostgres,
  checkRedis,
} from './probes.mjs';

export {
  DEFAULT_URLS,
  checkMqtt,
  checkNats,
  checkPostgres,
  checkRedis,
  mqttConnectPacket,
} from './probes.mjs';

function onPath(binary) {
  return (process.env.PATH ?? '')
    .split(':')
    .concat(['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin'])
    .some((dir) => dir && existsSync(`${dir}/${binary}`));
}

function postgresVersion() {
  try {
    const versions = readdirSync('/etc/postgresql').filter((v) => /^\d+$/.test(v));
    return versions.sort((a, b) => Number(b) - Number(a))[0] ?? '15';
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    return '15';
  }
}

const COMPOSE = 'docker compose up -d nats postgres redis mosquitto';

/** The servers, each with its URL variable, its probe and how it is started on this machine. */
export const SERVERS = [
  {
    name: 'NATS',
    env: 'NATS_URL',
    check: checkNats,
    binary: 'nats-server',
    start: (port) => `nats-server -js -p ${port ?? 4222} &`,
  },
  {
    name: 'PostgreSQL',
    env: 'DATABASE_URL',
    check: checkPostgres,
    binary: 'pg_ctlcluster',
    start: () => `pg_ctlcluster --skip-systemctl-redirect ${postgresVersion()} main start`,
  },
  {
    name: 'Redis',
    env: 'REDIS_URL',
    check: checkRedis,
    binary: 'redis-server',
    start: (port) => `redis-server --daemonize yes --port ${port ?? 6379} --save ""`,
  },
  {
    name: 'Mosquitto',
    env: 'MQTT_URL',
    check: checkMqtt,
    binary: 'mosquitto',
    start: () => 'mosquitto -d -c /etc/mosquitto/mosquitto.conf',
  },
];

function isLocal(urlString) {
  const host = new URL(urlString).hostname;
  return ['127.0.0.1', 'localhost', '[::1]', '::1', ''].includes(host);
}

/** How to start a missing server: the native command if its binary is installed, else compose. */
export function startHint(server, url) {
  if (!isLocal(url)) return `check the server at ${url} (${server.env})`;
  return onPath(server.binary) ? server.start(new URL(url).port || undefined) : COMPOSE;
}

/**
 * Checks every server in parallel. Returns one result per server:
 * `{name, env, url, ok, detail, hint}` (hint only when not ok).
 */
export async function checkServers(env = process.env, timeoutMs = TIMEOUT_MS) {
  return Promise.all(
    SERVERS.map(async (server) => {
      const url = env[server.env] || DEFAULT_URLS[server.env];
      let result;
      try {
        result = await server.check(url, timeoutMs);
      } catch (err) {
        // A malformed URL is the operator's to fix; report it like a missing server.
        result = { ok: false, detail: `${server.env}: ${err.message}` };
      }
      return {
        name: server.name,
        env: server.env,
        url,
        ...result,
        hint: result.ok ? undefined : startHint(server, url),
      };
    }),
  );
}

/** One line per server, and for a missing one the command that starts it. */
export function formatServerReport(results) {
  const width = Math.max(...results.map((r) => r.name.length));
  const lines = [];
  for (const r of results) {
    const status = r.ok ? 'ok     ' : 'MISSING';
    lines.push(`${status} ${r.name.padEnd(width)}  ${redact(r.url)}  ${r.detail}`);
    if (!r.ok) lines.push(`        start it: ${r.hint}`);
  }
  return lines.join('\n');
}

/** A URL without its password, for printing. */
export function redact(urlString) {
  try {
    const url = new URL(urlString);
    if (url.password) url.password = '***';
    return url.toString();
  } catch (err) {
    return `${urlString} (${err.message})`;
  }
}
