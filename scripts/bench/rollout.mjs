#!/usr/bin/env node
// `pnpm bench:rollout`: one staged rollout over BENCH_DEVICES devices (50,000) played at the bus
// level, so the orchestrator is what is measured. Three processes:
//   - child "platform": the device-registry and the command-gateway (the real command path to
//     the COMMANDS stream, rate limited by the rollout's rate_per_s);
//   - child "orchestrator": the ota-orchestrator alone, so its CPU time and memory are its own;
//   - this process, the responder: it registers the devices (the first through the registry's
//     RPC, the rest by one bulk insert into the registry schema, online on version 1.0.0; their
//     presence rows in the command-gateway's schema the same way), registers
//     a signed firmware through the upload bucket, starts the deployment and then answers every
//     `firmware.update` it sees on the COMMANDS subjects by publishing `cmd_res` accepted,
//     `update_status` succeeded and an online presence with the new version straight onto the
//     DEVICE subjects (what the mqtt-ingress would publish for a real device).
// Prints: plan time (create_deployment answered, next to what listing the devices costs the
// registry alone; created → first stage started), time to
// dispatch each stage (stage_started → the orchestrator's last create_command(s) request to the
// command gateway, and → its last firmware.update seen on the COMMANDS subjects), stage
// evaluation time (the stage's last device report → stage_completed, soak 0), and the
// orchestrator's CPU time and peak RSS. Goals (issue 5): plan < 2 s, the 100 % stage
// dispatched < 10 s.
// Built code (run `pnpm exec turbo run build` first). Shared NATS and Postgres, a throw-away
// namespace, schemas and artifact directory, all removed at the end.
//
// Knobs (environment): BENCH_DEVICES (50000), BENCH_STAGES (1,5,10,25,100), BENCH_RATE
// (commands/s of the rollout, 10000), BENCH_TIMEOUT_S (900), BENCH_STOP_AFTER_STAGES (0: all;
// N: abort after N stages), BENCH_PLAN_ONLY (1: abort as soon as the deployment is created, to
// measure the plan alone), BENCH_CPU_PROF (a directory: both children run with --cpu-prof and
// write their profiles there), BENCH_OTA_LOG_LEVEL (the orchestrator's, warn), NATS_URL,
// DATABASE_URL, REDIS_URL.
import { fork } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drained } from './lib/streams.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const req = createRequire(join(root, 'services', 'ota-orchestrator', 'package.json'));
const { connect: natsConnect, JSONCodec, nanos } = req('nats');
const dist = (svc) => join(root, 'services', svc, 'dist', 'index.js');

const num = (k, d) => Number(process.env[k] ?? d);
const DEVICES = num('BENCH_DEVICES', 50_000);
const STAGES = (process.env.BENCH_STAGES ?? '1,5,10,25,100').split(',').map(Number);
const RATE = num('BENCH_RATE', 10_000);
const TIMEOUT_S = num('BENCH_TIMEOUT_S', 900);
// Abort once this many stages completed (0: run to the end), to measure the plan and the first
// stages at full size when the whole rollout would take too long on a loaded machine.
const STOP_AFTER = num('BENCH_STOP_AFTER_STAGES', 0);
const PLAN_ONLY = process.env.BENCH_PLAN_ONLY === '1';
const CPU_PROF = process.env.BENCH_CPU_PROF;
const SERVERS = {
  NATS_URL: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
};
const TENANT = 'bench';
const TYPE = 'sensor';
const MODEL = 'rev-a';
const FROM = '1.0.0';
const TO = '2.0.0';
const jc = JSONCodec();

// ---------------------------------------------------------------- children: the services

async function platform() {
  const ns = process.env.BENCH_NS;
  const quiet = { LOG_LEVEL: 'warn', DROVER_NAMESPACE: ns, OPS_PORT: '0' };
  const { startDeviceRegistry } = req(join(root, 'services/device-registry/dist/app.js'));
  const { startCommandGateway } = req(dist('command-gateway'));
  const registry = await startDeviceRegistry(
    { ...SERVERS, ...quiet, DB_SCHEMA: `${ns}_reg`, DB_POOL_MAX: 6 },
    { ensureStreams: true },
  );
  const gateway = await startCommandGateway({
    ...SERVERS,
    ...quiet,
    DB_SCHEMA: `${ns}_cmd`,
    DB_POOL_MAX: 8,
    OUTBOX_POLL_MS: 50,
    // Every device is asked once: cache its type for the whole run.
    DEVICE_META_TTL_MS: 600_000,
  });
  process.send({ ready: true });
  process.on('disconnect', () => process.exit(1));
  process.on('message', async (m) => {
    if (m !== 'stop') return;
    await gateway.stop();
    await registry.stop();
    process.send({ stopped: true });
    process.exit(0);
  });
}

async function orchestrator() {
  const ns = process.env.BENCH_NS;
  const { startOtaOrchestrator } = req(dist('ota-orchestrator'));
  const ota = await startOtaOrchestrator({
    ...SERVERS,
    // BENCH_OTA_LOG_LEVEL=info shows the plan's phases (`deployment created`: check_ms, plan_ms).
    LOG_LEVEL: process.env.BENCH_OTA_LOG_LEVEL ?? 'warn',
    DROVER_NAMESPACE: ns,
    DB_SCHEMA: `${ns}_ota`,
    // The machine's Postgres is shared (max_connections 100): small pools.
    DB_POOL_MAX: 10,
    OUTBOX_POLL_MS: 50,
    ROLLOUT_TICK_MS: 100,
    ROLLOUT_DISPATCH_RATE_PER_S: RATE,
    FIRMWARE_TRUSTED_KEYS: process.env.BENCH_KEYS,
    FIRMWARE_ARTIFACT_DIR: process.env.BENCH_ARTIFACTS,
    FIRMWARE_HTTP_PORT: 0,
    FIRMWARE_PUBLIC_URL: 'http://127.0.0.1:1',
    FIRMWARE_URL_SECRET: randomBytes(32).toString('hex'),
  });
  // CPU and memory from the moment the deployment is created (the parent says when).
  let cpu0 = process.cpuUsage();
  let t0 = performance.now();
  let peak = 0;
  const sample = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 100);
  process.send({ ready: true, rss: process.memoryUsage().rss });
  process.on('disconnect', () => process.exit(1));
  process.on('message', async (m) => {
    if (m === 'mark') {
      cpu0 = process.cpuUsage();
      t0 = performance.now();
      peak = process.memoryUsage().rss;
    } else if (m === 'usage') {
      const cpu = process.cpuUsage(cpu0);
      process.send({
        usage: {
          cpuMs: (cpu.user + cpu.system) / 1000,
          wallMs: performance.now() - t0,
          peakRss: Math.max(peak, process.memoryUsage().rss),
          heapUsed: process.memoryUsage().heapUsed,
        },
      });
    } else if (m === 'stop') {
      clearInterval(sample);
      await ota.stop();
      process.send({ stopped: true });
      process.exit(0);
    }
  });
}

// ---------------------------------------------------------------- parent: devices and figures

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ms = (x) => (x === undefined || Number.isNaN(x) ? '-' : `${Math.round(x)} ms`);
const mb = (b) => `${(b / 1024 / 1024).toFixed(0)} MB`;

function forkChild(role, env) {
  const child = fork(fileURLToPath(import.meta.url), [`--${role}`], {
    env: { ...process.env, ...env },
    ...(CPU_PROF && { execArgv: ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] }),
  });
  const ready = new Promise((resolve, reject) => {
    child.on('message', (m) => m.ready && resolve(m));
    child.on('exit', (code) => reject(new Error(`${role} exited with ${code} before ready`)));
  });
  return { child, ready };
}

function ask(child, msg, key) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m[key] === undefined) return;
      child.off('message', on);
      resolve(m[key]);
    };
    child.on('message', on);
    child.send(msg);
  });
}

async function stopChild(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.on('exit', r));
  child.send('stop');
  await Promise.race([exited, sleep(30_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

const rpc = async (nc, ns, service, op, body, timeout = 60_000) => {
  const m = await nc.request(`${ns}.iot.rpc.${service}.${op}`, jc.encode(body), { timeout });
  const r = jc.decode(m.data);
  if (r?.error) throw new Error(`${service}.${op}: ${r.error.error_code}: ${r.error.detail}`);
  return r.result;
};

/** Registers the devices: one through the RPC (it creates the device type), the rest in bulk. */
async function registerDevices(nc, ns, pg) {
  await rpc(nc, ns, 'device-registry', 'create_device', {
    tenant: TENANT,
    device_id: 'b0',
    device_type: TYPE,
    hardware_id: 'hw-b0',
    hardware_model: MODEL,
  });
  await pg.query(
    `insert into "${ns}_reg".devices
       (tenant, device_id, device_type, hardware_id, hardware_model, firmware_version,
        connectivity, last_seen)
     select $1, 'b' || i, $2, 'hw-b' || i, $3, $4, 'online', now()
       from generate_series(1, $5::int - 1) as i`,
    [TENANT, TYPE, MODEL, FROM, DEVICES],
  );
  await pg.query(
    `update "${ns}_reg".devices set firmware_version = $1, connectivity = 'online'
      where tenant = $2 and device_id = 'b0'`,
    [FROM, TENANT],
  );
}

const deviceSubject = (ns, kind, id) => `${ns}.iot.device.${TENANT}.${kind}.${id}`;
const origin = (id) => ({
  tenant: TENANT,
  device_type: TYPE,
  device_id: id,
  received_at: new Date().toISOString(),
});

function presence(nc, ns, id, version) {
  nc.publish(
    deviceSubject(ns, 'presence', id),
    jc.encode({
      ...origin(id),
      state: 'online',
      firmware_version: version,
      hardware_model: MODEL,
      msg_id: `p-${id}-${version}`,
      ts: new Date().toISOString(),
    }),
  );
}

async function registerFirmware(nc, ns, key, keyId) {
  const image = randomBytes(256 * 1024);
  const js = nc.jetstream();
  const bucket = `${ns.toUpperCase()}_FIRMWARE_UPLOADS`;
  const os = await js.views.os(bucket, { ttl: nanos(3600_000) });
  await os.putBlob({ name: 'bench-image' }, image);
  const fw = await rpc(nc, ns, 'ota-orchestrator', 'register_firmware', {
    tenant: TENANT,
    version: TO,
    device_type: TYPE,
    hardware_models: [MODEL],
    sha256: createHash('sha256').update(image).digest('hex'),
    size: image.length,
    signature: sign(null, image, key).toString('base64'),
    signature_alg: 'ed25519',
    key_id: keyId,
    upload: { bucket, name: 'bench-image' },
  });
  return { fw, bucket };
}

/**
 * The responder: every firmware.update on the COMMANDS subjects is answered at once with
 * cmd_res accepted, update_status succeeded, presence online on the new version.
 */
function startResponder(nc, ns, log) {
  // The orchestrator's create_command / create_commands (batch) requests (a copy: the gateway's
  // queue group answers); one entry per firmware.update asked for.
  const keys = new Set();
  const note = (body) => {
    if (body?.name !== 'firmware.update' || keys.has(body.idempotency_key)) return;
    keys.add(body.idempotency_key);
    log.requests.push(now());
  };
  const asked = nc.subscribe(`${ns}.iot.rpc.command-gateway.create_command`);
  (async () => {
    for await (const m of asked) note(jc.decode(m.data));
  })();
  const askedMany = nc.subscribe(`${ns}.iot.rpc.command-gateway.create_commands`);
  (async () => {
    for await (const m of askedMany) for (const c of jc.decode(m.data)?.commands ?? []) note(c);
  })();
  const seen = new Set();
  const sub = nc.subscribe(`${ns}.iot.cmd.${TENANT}.>`);
  (async () => {
    for await (const m of sub) {
      const cmd = jc.decode(m.data);
      if (cmd.command?.name !== 'firmware.update' || seen.has(cmd.msg_id)) continue;
      seen.add(cmd.msg_id);
      const id = m.subject.slice(m.subject.lastIndexOf('.') + 1);
      log.commands.push(now());
      const ts = new Date().toISOString();
      const p = cmd.command.params;
      nc.publish(
        deviceSubject(ns, 'cmd_res', id),
        jc.encode({
          ...origin(id),
          msg_id: `a-${cmd.msg_id}`,
          ts,
          schema_version: 1,
          cmd_id: cmd.msg_id,
          status: 'accepted',
        }),
      );
      nc.publish(
        deviceSubject(ns, 'update_status', id),
        jc.encode({
          ...origin(id),
          msg_id: `u-${cmd.msg_id}`,
          ts,
          schema_version: 1,
          deployment_id: p.deployment_id,
          firmware_version: p.firmware_version,
          state: 'succeeded',
        }),
      );
      presence(nc, ns, id, p.firmware_version);
      log.reports.push(now());
    }
  })();
  return {
    unsubscribe() {
      sub.unsubscribe();
      asked.unsubscribe();
      askedMany.unsubscribe();
    },
  };
}

async function main() {
  const ns = `bench_${randomBytes(4).toString('hex')}`;
  const artifacts = mkdtempSync(join(tmpdir(), 'drover-bench-fw-'));
  const { privateKey } = generateKeyPairSync('ed25519');
  const keyId = 'bench-key';
  const publicPem = createPublicKey(privateKey).export({ format: 'pem', type: 'spki' });
  const pg = new (req('pg').Client)({ connectionString: SERVERS.DATABASE_URL });
  await pg.connect();
  const nc = await natsConnect({ servers: SERVERS.NATS_URL });
  const jsm = await nc.jetstreamManager();
  const children = [];
  try {
    const p = forkChild('platform', { BENCH_NS: ns });
    children.push(p.child);
    await p.ready;
    console.error('registry and command-gateway ready');

    let t = now();
    await registerDevices(nc, ns, pg);
    const registerMs = now() - t;
    // Online as the command gateway sees it (its presence table, in bulk as well): the
    // update commands go out at once instead of waiting for each device to connect.
    t = now();
    await pg.query(
      `insert into "${ns}_cmd".device_presence (tenant, device_id, online, ts)
       select $1, 'b' || i, true, now() from generate_series(0, $2::int - 1) as i`,
      [TENANT, DEVICES],
    );
    console.error(`${DEVICES} devices registered in ${ms(registerMs)}, online in ${ms(now() - t)}`);

    const o = forkChild('orchestrator', {
      BENCH_NS: ns,
      BENCH_KEYS: JSON.stringify({ [keyId]: publicPem }),
      BENCH_ARTIFACTS: artifacts,
    });
    children.push(o.child);
    const { rss: idleRss } = await o.ready;
    await registerFirmware(nc, ns, privateKey, keyId);
    // The orchestrator's DEVICE consumers catch up with the presence history first.
    await drained(jsm, [`${ns.toUpperCase()}_DEVICE`], 'orchestrator catch-up');
    console.error(`orchestrator ready (rss ${mb(idleRss)}), firmware ${TO} registered`);

    const log = { requests: [], commands: [], reports: [] };
    const events = [];
    const evSub = nc.subscribe(`${ns}.iot.evt.${TENANT}.deployment.>`);
    (async () => {
      for await (const m of evSub) {
        const e = jc.decode(m.data);
        if (!m.subject.endsWith('.device_updated')) events.push({ at: now(), type: e.type, e });
      }
    })();
    const responder = startResponder(nc, ns, log);

    // What resolving the target costs the registry alone: every device, in the compact listing
    // the planner uses (list_device_targets, pages of 5,000).
    const tList = now();
    let listed = 0;
    let cursor = null;
    do {
      const page = await rpc(nc, ns, 'device-registry', 'list_device_targets', {
        tenant: TENANT,
        device_type: TYPE,
        limit: 5000,
        ...(cursor && { cursor }),
      });
      listed += page.items.length;
      cursor = page.next_cursor;
    } while (cursor);
    const listMs = now() - tList;

    o.child.send('mark');
    const tCreate = now();
    const deployment = await rpc(nc, ns, 'ota-orchestrator', 'create_deployment', {
      tenant: TENANT,
      version: TO,
      device_type: TYPE,
      target: { filter: {} },
      rollout_config: {
        stages: STAGES,
        soak_duration_minutes: 0,
        min_sample: 10,
        rate_per_s: RATE,
        device_timeout_minutes: 30,
      },
    });
    const createMs = now() - tCreate;
    const id = deployment.deployment_id;
    console.error(`deployment ${id} created (${deployment.status})`);

    const deadline = now() + TIMEOUT_S * 1000;
    let final = deployment;
    while (now() < deadline) {
      if (PLAN_ONLY) {
        final = await rpc(nc, ns, 'ota-orchestrator', 'abort_deployment', {
          tenant: TENANT,
          deployment_id: id,
          detail: 'bench: plan only',
        });
        break;
      }
      final = await rpc(nc, ns, 'ota-orchestrator', 'get_deployment', {
        tenant: TENANT,
        deployment_id: id,
      });
      if (['completed', 'rolled_back', 'aborted'].includes(final.status)) break;
      const done = events.filter((x) => x.type === 'drover.deployment.stage_completed.v1');
      if (STOP_AFTER > 0 && done.length >= STOP_AFTER) {
        final = await rpc(nc, ns, 'ota-orchestrator', 'abort_deployment', {
          tenant: TENANT,
          deployment_id: id,
          detail: `bench: stopped after ${STOP_AFTER} stage(s)`,
        });
        break;
      }
      await sleep(500);
    }
    const endAt = now();
    await sleep(500); // the last events
    const usage = await ask(o.child, 'usage', 'usage');
    responder.unsubscribe();
    evSub.unsubscribe();

    // Figures.
    const of = (name) => events.filter((x) => x.type === `drover.deployment.${name}.v1`);
    const started = of('stage_started').sort((a, b) => a.e.data.stage - b.e.data.stage);
    const completed = of('stage_completed');
    console.log(
      `devices=${DEVICES} stages=${STAGES.join(',')} rate=${RATE}/s soak=0 ` +
        `outcome=${final.status}${final.reason ? ` (${final.reason})` : ''} ` +
        `succeeded=${final.succeeded}/${final.total_devices}`,
    );
    console.log(
      `plan: create_deployment answered in ${ms(createMs)} ` +
        `(the registry alone lists the ${listed} devices in ${ms(listMs)})`,
    );
    if (started[0]) {
      console.log(`plan: created -> stage 1 started ${ms(started[0].at - tCreate)}`);
    }
    let evalTotal = 0;
    for (const [i, s] of started.entries()) {
      const stage = s.e.data.stage;
      const next = started[i + 1]?.at ?? endAt + 1;
      const cmds = log.commands.filter((c) => c >= s.at - 1000 && c < next);
      const reports = log.reports.filter((c) => c < next);
      const done = completed.find((c) => c.e.data.stage === stage);
      const lastCmd = cmds.at(-1);
      const evalMs = done && reports.length ? done.at - reports.at(-1) : NaN;
      if (!Number.isNaN(evalMs)) evalTotal += evalMs;
      const asked = log.requests.filter((c) => c >= s.at - 1000 && c < next);
      console.log(
        `stage ${stage + 1} (${s.e.data.percent ?? STAGES[stage]}%, ` +
          `${s.e.data.devices ?? cmds.length} devices): ${asked.length} firmware.update asked of the gateway in ` +
          `${ms(asked.length ? asked.at(-1) - s.at : NaN)}, ${cmds.length} on COMMANDS in ` +
          `${ms(lastCmd === undefined ? NaN : lastCmd - s.at)}; evaluated ` +
          `${ms(evalMs)} after its last report`,
      );
    }
    console.log(
      `total: created -> ${final.status} ${ms(endAt - tCreate)}; stage evaluations ` +
        `${ms(evalTotal)} in all`,
    );
    console.log(
      `orchestrator: cpu ${ms(usage.cpuMs)} over ${ms(usage.wallMs)} ` +
        `(${((usage.cpuMs / usage.wallMs) * 100).toFixed(0)} % of a core), ` +
        `peak rss ${mb(usage.peakRss)} (idle ${mb(idleRss)}), heap ${mb(usage.heapUsed)}`,
    );
  } finally {
    for (const child of children.reverse()) await stopChild(child);
    for (const s of [`${ns}_reg`, `${ns}_cmd`, `${ns}_ota`]) {
      await pg.query(`drop schema if exists "${s}" cascade`);
    }
    await pg.end();
    // Its streams, and the upload bucket's OBJ_<NS>_FIRMWARE_UPLOADS stream.
    await req('@drover/testing').cleanupNamespace(ns, {
      natsUrl: SERVERS.NATS_URL,
      redisUrl: null,
    });
    await nc.close();
    rmSync(artifacts, { recursive: true, force: true });
  }
}

// Last: the helpers above must be initialized before any role runs.
if (process.argv.includes('--platform')) await platform();
else if (process.argv.includes('--orchestrator')) await orchestrator();
else await main();
