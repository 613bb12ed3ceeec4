import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  SERVERS,
  checkMqtt,
  checkNats,
  checkPostgres,
  checkRedis,
  checkServers,
  formatServerReport,
  mqttConnectPacket,
  redact,
  startHint,
} from '../../../../scripts/lib/servers.mjs';
import { closedPort } from '../helpers/capture-io';

const root = join(__dirname, '../../../..');
const env = process.env;
const urls = {
  nats: env.NATS_URL || 'nats://127.0.0.1:4222',
  postgres: env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres',
  redis: env.REDIS_URL || 'redis://127.0.0.1:6379',
  mqtt: env.MQTT_URL || 'mqtt://127.0.0.1:1883',
};

describe('server probes against the running servers', () => {
  it('recognizes NATS with JetStream, PostgreSQL, Redis and Mosquitto', async () => {
    await expect(checkNats(urls.nats)).resolves.toMatchObject({
      ok: true,
      detail: expect.stringContaining('JetStream on'),
    });
    await expect(checkPostgres(urls.postgres)).resolves.toMatchObject({ ok: true });
    await expect(checkRedis(urls.redis)).resolves.toEqual({
      ok: true,
      detail: 'Redis answered PONG',
    });
    await expect(checkMqtt(urls.mqtt)).resolves.toMatchObject({ ok: true });
  });

  it('tells one server from another on the wrong port', async () => {
    await expect(checkPostgres(urls.nats.replace('nats:', 'postgres:'))).resolves.toMatchObject({
      ok: false,
      detail: expect.stringContaining('not PostgreSQL'),
    });
    await expect(checkNats(urls.redis.replace('redis:', 'nats:'), 500)).resolves.toMatchObject({
      ok: false,
    });
    await expect(checkMqtt(urls.nats.replace('nats:', 'mqtt:'))).resolves.toMatchObject({
      ok: false,
      detail: 'not an MQTT broker (no CONNACK)',
    });
  });

  it('reports a refused connection', async () => {
    const port = await closedPort();
    for (const check of [checkNats, checkPostgres, checkRedis, checkMqtt]) {
      await expect(check(`x://127.0.0.1:${port}`)).resolves.toEqual({
        ok: false,
        detail: 'ECONNREFUSED',
      });
    }
  });
});

describe('a port that accepts but never answers', () => {
  let server: Server;
  let port: number;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    server = createServer((socket) => sockets.push(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    const closed = once(server, 'close');
    server.close();
    for (const socket of sockets) socket.destroy();
    await closed;
  });

  it('times out with a clear detail', async () => {
    const started = Date.now();
    await expect(checkRedis(`redis://127.0.0.1:${port}`, 300)).resolves.toEqual({
      ok: false,
      detail: 'no answer within 0.3 s',
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('NATS without JetStream (a private nats-server)', () => {
  let nats: ChildProcess;
  let port: number;
  beforeAll(async () => {
    port = await closedPort();
    nats = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // nats-server logs "Server is ready" on stderr once it accepts clients.
    let log = '';
    await new Promise<void>((resolve, reject) => {
      nats.once('exit', (code) => reject(new Error(`nats-server exited ${code}: ${log}`)));
      nats.stderr?.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('Server is ready')) resolve();
      });
    });
  });
  afterAll(async () => {
    nats.removeAllListeners('exit');
    const exited = once(nats, 'exit');
    nats.kill('SIGTERM');
    await exited;
  });

  it('is reported as missing JetStream', async () => {
    const result = await checkNats(`nats://127.0.0.1:${port}`);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/runs without JetStream \(start it with -js\)/);
  });
});

describe('report and hints', () => {
  it('gives the native start command for each local server', () => {
    const hints = SERVERS.map((s) =>
      startHint(s, s.env === 'NATS_URL' ? urls.nats : 'x://127.0.0.1'),
    );
    expect(hints).toEqual([
      'nats-server -js -p 4222 &',
      expect.stringMatching(/^pg_ctlcluster --skip-systemctl-redirect \d+ main start$/),
      'redis-server --daemonize yes --port 6379 --save ""',
      'mosquitto -d -c /etc/mosquitto/mosquitto.conf',
    ]);
  });

  it('names the URL for a remote server', () => {
    const redis = SERVERS.find((s) => s.name === 'Redis');
    expect(startHint(redis!, 'redis://cache.internal:6379')).toBe(
      'check the server at redis://cache.internal:6379 (REDIS_URL)',
    );
  });

  it('marks the missing server with its hint and keeps passwords out', async () => {
    const port = await closedPort();
    const results = await checkServers({ REDIS_URL: `redis://:secret@127.0.0.1:${port}` });
    const byName = Object.fromEntries(results.map((r) => [r.name, r]));
    expect(byName.Redis).toMatchObject({
      ok: false,
      hint: expect.stringContaining(`--port ${port}`),
    });
    expect(byName.NATS?.ok).toBe(true);
    const report = formatServerReport(results);
    expect(report).toMatch(new RegExp(`^MISSING Redis +redis://:\\*\\*\\*@127.0.0.1:${port}`, 'm'));
    expect(report).toContain('start it: redis-server --daemonize yes');
    expect(report).not.toContain('secret');
    expect(redact('not a url')).toContain('not a url');
  });

  it('encodes an MQTT 3.1.1 CONNECT', () => {
    expect(mqttConnectPacket('c1').toString('hex')).toBe(
      '10' + '0e' + '00044d515454' + '04' + '02' + '000a' + '00026331',
    );
    const withAuth = mqttConnectPacket('c', 'u', 'p');
    expect(withAuth[9]).toBe(0xc2);
  });
});

describe('scripts/check-servers.mjs', () => {
  const run = promisify(execFile);

  it('prints one ok line per server and exits 0', async () => {
    const { stdout } = await run(process.execPath, ['scripts/check-servers.mjs'], { cwd: root });
    expect(stdout.split('\n').filter((l) => l.startsWith('ok '))).toHaveLength(4);
  });

  it('exits 1 and prints how to start a missing server', async () => {
    const port = await closedPort();
    const result = await run(process.execPath, ['scripts/check-servers.mjs'], {
      cwd: root,
      env: { ...process.env, NATS_URL: `nats://127.0.0.1:${port}` },
    }).then(
      () => ({ code: 0, stdout: '' }),
      (err: { code: number; stdout: string }) => err,
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`MISSING NATS`);
    expect(result.stdout).toContain(`start it: nats-server -js -p ${port} &`);
    expect(result.stdout).toContain('docker compose up -d nats postgres redis mosquitto');
  });
});
