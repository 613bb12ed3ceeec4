// Protocol probes for the four servers. Each speaks just enough of the protocol to tell "a
// real server answered" from "something holds the port", using node:net only so it runs
// before `pnpm install`.
import net from 'node:net';
import tls from 'node:tls';

export const DEFAULT_URLS = {
  NATS_URL: 'nats://127.0.0.1:4222',
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: 'redis://127.0.0.1:6379',
  MQTT_URL: 'mqtt://127.0.0.1:1883',
};

export const TIMEOUT_MS = 2000;
const TLS_PROTOCOLS = ['rediss:', 'mqtts:', 'ssl:'];
const DEFAULT_PORTS = { nats: 4222, postgres: 5432, redis: 6379, mqtt: 1883 };

/**
 * Opens a socket and runs `talk` on it; resolves with talk's result, or `{ok: false}` on
 * refusal, error or the 2 s timeout. The socket is always destroyed.
 */
function probe(url, defaultPort, talk, timeoutMs = TIMEOUT_MS) {
  // NATS and PostgreSQL negotiate TLS inside the plain connection; these schemes start with it.
  const secure = TLS_PROTOCOLS.includes(url.protocol);
  const host = url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(url.port) || defaultPort;
  return new Promise((resolve) => {
    let settled = false;
    const options = { host, port, servername: secure ? host : undefined };
    const socket = secure ? tls.connect(options) : net.connect(options);
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => finish({ ok: false, detail: `no answer within ${timeoutMs / 1000} s` }),
      timeoutMs,
    );
    socket.once('error', (err) => finish({ ok: false, detail: err.code ?? err.message }));
    socket.once('close', () =>
      finish({ ok: false, detail: 'connection closed without an answer' }),
    );
    socket.once(secure ? 'secureConnect' : 'connect', () => talk(socket, finish));
  });
}

/** Collects socket data until `done(buffer)` returns a result (or undefined to keep reading). */
function onData(socket, finish, done) {
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    const result = done(buf);
    if (result) finish(result);
  });
}

/** NATS: the server speaks first with `INFO {json}`; JetStream must be on. */
export function checkNats(urlString = DEFAULT_URLS.NATS_URL, timeoutMs) {
  const url = new URL(urlString);
  return probe(
    url,
    DEFAULT_PORTS.nats,
    (socket, finish) =>
      onData(socket, finish, (buf) => {
        const end = buf.indexOf('\r\n');
        if (end < 0) return undefined;
        const line = buf.subarray(0, end).toString('utf8');
        if (!line.startsWith('INFO '))
          return { ok: false, detail: `not NATS: "${line.slice(0, 40)}"` };
        let info;
        try {
          info = JSON.parse(line.slice(5));
        } catch (err) {
          return { ok: false, detail: `bad INFO line: ${err.message}` };
        }
        if (info.jetstream !== true) {
          return {
            ok: false,
            detail: `NATS ${info.version} runs without JetStream (start it with -js)`,
          };
        }
        return { ok: true, detail: `NATS ${info.version}, JetStream on` };
      }),
    timeoutMs,
  );
}

/** PostgreSQL: an SSLRequest is answered with one byte, 'S' or 'N', by any PostgreSQL. */
export function checkPostgres(urlString = DEFAULT_URLS.DATABASE_URL, timeoutMs) {
  const url = new URL(urlString);
  return probe(
    url,
    DEFAULT_PORTS.postgres,
    (socket, finish) => {
      onData(socket, finish, (buf) => {
        const byte = String.fromCharCode(buf[0]);
        if (byte === 'S' || byte === 'N') return { ok: true, detail: 'PostgreSQL answered' };
        return { ok: false, detail: 'not PostgreSQL (unexpected answer to SSLRequest)' };
      });
      const sslRequest = Buffer.alloc(8);
      sslRequest.writeInt32BE(8, 0);
      sslRequest.writeInt32BE(80877103, 4);
      socket.write(sslRequest);
    },
    timeoutMs,
  );
}

/** Redis: PING (after AUTH when the URL has credentials) must answer +PONG. */
export function checkRedis(urlString = DEFAULT_URLS.REDIS_URL, timeoutMs) {
  const url = new URL(urlString);
  const resp = (...args) =>
    `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  let request = resp('PING');
  if (url.password) {
    const auth = url.username
      ? resp('AUTH', decodeURIComponent(url.username), decodeURIComponent(url.password))
      : resp('AUTH', decodeURIComponent(url.password));
    request = auth + request;
  }
  return probe(
    url,
    DEFAULT_PORTS.redis,
    (socket, finish) => {
      onData(socket, finish, (buf) => {
        const text = buf.toString('utf8');
        if (text.includes('+PONG\r\n')) return { ok: true, detail: 'Redis answered PONG' };
        const error = /^-(.*)\r\n/m.exec(text);
        if (error) return { ok: false, detail: `Redis refused: ${error[1]}` };
        return undefined;
      });
      socket.write(request);
    },
    timeoutMs,
  );
}

/** The bytes of an MQTT 3.1.1 CONNECT with a clean session and the given client id. */
export function mqttConnectPacket(clientId, username, password) {
  const str = (s) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length);
    return Buffer.concat([len, b]);
  };
  let flags = 0x02; // clean session
  const payload = [str(clientId)];
  if (username) {
    flags |= 0x80;
    payload.push(str(username));
    if (password) {
      flags |= 0x40;
      payload.push(str(password));
    }
  }
  const variable = Buffer.concat([str('MQTT'), Buffer.from([0x04, flags, 0x00, 0x0a])]);
  const body = Buffer.concat([variable, ...payload]);
  const remaining = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    remaining.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x10, ...remaining]), body]);
}

const CONNACK_REASONS = {
  1: 'unacceptable protocol version',
  2: 'client id rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

/** MQTT: CONNECT must be answered by CONNACK; a refusal code still proves the broker runs. */
export function checkMqtt(urlString = DEFAULT_URLS.MQTT_URL, timeoutMs) {
  const url = new URL(urlString);
  const clientId = `drover-check-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const packet = mqttConnectPacket(
    clientId,
    url.username ? decodeURIComponent(url.username) : undefined,
    url.password ? decodeURIComponent(url.password) : undefined,
  );
  return probe(
    url,
    DEFAULT_PORTS.mqtt,
    (socket, finish) => {
      onData(socket, finish, (buf) => {
        if (buf.length < 4) return undefined;
        if (buf[0] !== 0x20) return { ok: false, detail: 'not an MQTT broker (no CONNACK)' };
        const code = buf[3];
        socket.write(Buffer.from([0xe0, 0x00])); // DISCONNECT, so the broker logs no error
        if (code === 0) return { ok: true, detail: 'MQTT broker accepted CONNECT' };
        return {
          ok: true,
          detail: `MQTT broker answered (CONNACK: ${CONNACK_REASONS[code] ?? code})`,
        };
      });
      socket.write(packet);
    },
    timeoutMs,
  );
}
