#!/usr/bin/env node
// `npm start`: checks the servers, installs and builds when needed, creates the development
// keys, sets up the JetStream streams, runs every declared service with readable logs, waits
// for the gateway's /readyz and prints how to use it. Ctrl-C stops everything.
// Flags: --no-install, --no-build (skip those steps; e.g. while iterating on one service).
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureDevKeys, ensureDevSecret, ensureFirmwareDevKey } from './lib/dev-keys.mjs';
import { createLogFormatter, useColor } from './lib/log-format.mjs';
import { portAccepts, probeHttp, waitForOk } from './lib/readiness.mjs';
import { DEFAULT_URLS, checkServers, formatServerReport } from './lib/servers.mjs';
import { discoverServices, serviceEnv } from './lib/services.mjs';
import { prepareDevSecureBroker } from './lib/secure-broker.mjs';
import { setupStreams } from './lib/streams.mjs';
import { createSupervisor } from './lib/supervisor.mjs';
import { ensurePnpm, needsInstall, runPnpm } from './lib/toolchain.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const USAGE = `usage: npm start [-- [--no-install] [--no-build]]
  --no-install  do not run pnpm install, even when the lockfile changed
  --no-build    do not run turbo run build (start what is built)
Environment: NATS_URL, DATABASE_URL, REDIS_URL, MQTT_URL, API_PORT (8080), LOG_LEVEL (info),
  SECURE_MQTT (on: the mTLS broker too; off; ingress: the ingress on its platform listener).`;
let flags;
try {
  ({ values: flags } = parseArgs({
    options: {
      'no-install': { type: 'boolean' },
      'no-build': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(1);
}
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
const color = useColor();
const paint = (code, text) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const say = (msg) => console.log(`${paint('1', 'drover')} ${msg}`);
const warn = (msg) => console.log(`${paint('1', 'drover')} ${paint('33', msg)}`);
const fail = (msg) => {
  console.error(`${paint('1', 'drover')} ${paint('31', msg)}`);
  process.exit(1);
};

// Servers first: it takes at most 2 s and a missing one makes the rest pointless.
const servers = await checkServers(process.env);
if (servers.some((s) => !s.ok)) {
  console.log(formatServerReport(servers));
  fail(
    'a server the platform needs is not running: start it with the command above, then npm start',
  );
}
say(`servers: ${servers.map((s) => s.name).join(', ')} are up`);

const pnpm = ensurePnpm(say);
if (!flags['no-install'] && needsInstall(root)) {
  say('installing dependencies (pnpm install --frozen-lockfile)');
  if ((await runPnpm(pnpm, ['install', '--frozen-lockfile'], { cwd: root })) !== 0) {
    fail('pnpm install failed (see above)');
  }
}
if (!flags['no-build']) {
  say('building (turbo run build)');
  const args = ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only'];
  if ((await runPnpm(pnpm, args, { cwd: root })) !== 0) fail('the build failed (see above)');
}

const { paths: keys, created } = ensureDevKeys(root);
say(`${created ? 'created' : 'using'} the development JWT key pair in ${keys.dir}`);
// Firmware signed on this machine (drover firmware sign/upload/demo) verifies out of the box:
// the orchestrator trusts the development signing key, the simulator checks images with it,
// and download URLs stay valid across restarts of the orchestrator.
const firmwareKey = ensureFirmwareDevKey(root);
const firmwareUrlSecret = ensureDevSecret(root, 'firmware-url-secret');
const otaEnv = {
  FIRMWARE_TRUSTED_KEYS: process.env.FIRMWARE_TRUSTED_KEYS ?? firmwareKey.paths.trustedKeys,
  FIRMWARE_URL_SECRET: process.env.FIRMWARE_URL_SECRET ?? firmwareUrlSecret,
};

const urls = Object.fromEntries(
  Object.entries(DEFAULT_URLS).map(([name, fallback]) => [name, process.env[name] || fallback]),
);
const streams = await setupStreams(root, { ...process.env, ...urls });
if (streams.skipped) warn(`JetStream streams not set up: ${streams.output}`);
else if (!streams.ok) fail(`setting up the JetStream streams failed: ${streams.output}`);
else say('JetStream streams are set up');

const apiPort = Number(process.env.API_PORT ?? 8080);
const { services, undeclared } = discoverServices(root);
for (const name of undeclared) {
  warn(`services/${name}: no "drover": {"service": true, "order": N} in package.json, not started`);
}
for (const s of services.filter((s) => !s.built)) {
  warn(`services/${s.name}: not built yet (no dist/main.js), skipped`);
}
const running = services.filter((s) => s.built);
if (running.length === 0) fail('no service to start');
const taken = [];
const gatewayPorts = running.some((s) => s.name === 'api-gateway') ? [apiPort] : [];
for (const port of [...gatewayPorts, ...running.map((s) => s.opsPort)]) {
  if (await portAccepts(port)) taken.push(port);
}
if (taken.length > 0) {
  fail(`port ${taken.join(', ')} already in use: is Drover already running (another npm start)?`);
}

// The mTLS broker next to the plain development one, from the PKI provisioning issues from.
// SECURE_MQTT=ingress also moves the ingress onto its platform listener (docs/security.md).
const extra = [];
let ingressEnv = {};
let simulatorEnv = {};
if (process.env.SECURE_MQTT !== 'off') {
  const pkiDir = process.env.PKI_DIR ?? '.drover/pki';
  const crlPath = process.env.CRL_PATH ?? '.drover/pki/crl.pem';
  const busy = [];
  for (const port of [8883, 8884, 8885]) if (await portAccepts(port)) busy.push(port);
  const secure =
    busy.length > 0
      ? { skipped: `port ${busy.join(', ')} already in use` }
      : await prepareDevSecureBroker(root, { pkiDir, crlPath }).catch((err) => ({
          skipped: err.message,
        }));
  if (secure.skipped) warn(`mTLS broker not started: ${secure.skipped}`);
  else {
    extra.push(secure.spec);
    const p = secure.ports;
    say(`mTLS broker: fleet :${p.fleet}, provisioning :${p.provisioning}, platform :${p.platform}`);
    if (process.env.SECURE_MQTT === 'ingress') {
      ingressEnv = secure.ingressEnv;
      // The fleet follows the ingress: provisioned over mTLS, on the fleet listener.
      simulatorEnv = secure.simulatorEnv;
      say(`mqtt-ingress: TLS client of :${p.platform} (devices on the plain broker go unheard)`);
    }
  }
}

const format = createLogFormatter([...extra.map((s) => s.name), ...running.map((s) => s.name)], {
  color,
});
const supervisor = createSupervisor(
  [
    ...extra,
    ...running.map((s) => ({
      name: s.name,
      main: s.main,
      cwd: root,
      env: {
        ...serviceEnv(s, { env: process.env, urls, apiPort, jwksFile: keys.jwks }),
        ...(s.name === 'mqtt-ingress' ? ingressEnv : {}),
        ...(s.name === 'ota-orchestrator' ? otaEnv : {}),
        ...(s.name === 'device-simulator'
          ? { SIM_FIRMWARE_SIGNING_KEY: firmwareKey.publicPem, ...simulatorEnv }
          : {}),
      },
    })),
  ],
  { onLine: (name, line) => console.log(format(name, line)), report: warn },
);

let stopping = false;
async function shutdown(signal) {
  if (stopping) {
    warn(`${signal} again: killing every service now`);
    supervisor.killAll();
    process.exit(0);
  }
  stopping = true;
  say(`${signal}: stopping ${running.map((s) => s.name).join(', ')} (up to 15 s)`);
  await supervisor.stop(15_000);
  say('stopped');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
// Never leave orphans behind, whatever ends this process.
process.on('exit', () => supervisor.killAll());

say(`starting ${running.map((s) => `${s.name} (ops :${s.opsPort})`).join(', ')}`);
supervisor.start();

const api = `http://127.0.0.1:${apiPort}`;
const gateway = running.find((s) => s.name === 'api-gateway');
if (!gateway) {
  warn('the api-gateway is not running, so there is no REST API to wait for');
} else {
  const ready = await waitForOk(`${api}/readyz`, { timeoutMs: 60_000, cancelled: () => stopping });
  // After a Ctrl-C during the wait, shutdown() owns the output and the exit.
  if (!stopping) {
    if (!ready) await reportNotReady();
    printGuide(ready);
  }
}

async function reportNotReady() {
  warn(`${api}/readyz did not answer 200 within 60 s; still running. Not ready:`);
  const states = new Map(supervisor.status().map((s) => [s.name, s.state]));
  for (const s of running) {
    const probe = await probeHttp(`http://127.0.0.1:${s.opsPort}/readyz`);
    if (probe.ok) continue;
    const why = probe.status ? `readyz ${probe.status}: ${probe.body.slice(0, 200)}` : probe.body;
    warn(`  ${s.name} (${states.get(s.name)}): ${why}`);
  }
}

function printGuide(ready) {
  const lines = [
    '',
    ready ? paint('32', 'Drover is running.') : paint('33', 'Drover is running (not ready yet).'),
    `  REST API  ${api}/api/v1`,
    `  API docs  ${api}/docs`,
    `  metrics   http://127.0.0.1:<ops port>/metrics (ports above)`,
    '',
    `A simulated fleet of ${process.env.FLEET_SIZE ?? 200} devices (tenant acme, type sensor) is coming online.`,
    'In another terminal, get a development token and try the CLI:',
    '  export DROVER_TOKEN=$(npx drover token --tenant acme --scope admin)',
    '  npx drover devices list --connectivity online',
    '  npx drover commands send sim-acme-0001 ping --wait',
    '  npx drover demo          # a staged rollout with live progress, then a bad one rolled back',
    `  curl -H "Authorization: Bearer $DROVER_TOKEN" ${api}/api/v1/devices`,
    '',
    'Ctrl-C stops everything. Docs: docs/getting-started.md, docs/cli.md',
    '',
  ];
  console.log(lines.join('\n'));
}
