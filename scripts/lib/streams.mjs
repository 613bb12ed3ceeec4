// Creates or updates the JetStream streams once, before any service starts (services only
// look consumers up). Runs in a child `node -e` because @drover/bus is CommonJS in dist/.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const SETUP = `
const { connectBus, ensureStreams } = require('./packages/bus/dist');
const line = (level) => (obj, msg) => {
  if (level !== 'debug') console.error(JSON.stringify({ level, msg, ...obj }));
};
const logger = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
(async () => {
  const bus = await connectBus({
    url: process.env.NATS_URL,
    name: 'drover-start-setup',
    logger,
    namespace: process.env.DROVER_NAMESPACE || undefined,
  });
  try {
    await ensureStreams(bus);
  } finally {
    await bus.close();
  }
})().catch((err) => {
  console.error(err && err.message ? err.message : String(err));
  process.exit(1);
});
`;

/** Resolves `{ok, skipped?, output}`; skipped when packages/bus is not built. */
export function setupStreams(root, env, timeoutMs = 30_000) {
  if (!existsSync(join(root, 'packages', 'bus', 'dist', 'index.js'))) {
    return Promise.resolve({ ok: false, skipped: true, output: 'packages/bus is not built' });
  }
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', SETUP], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const why = signal ? `timed out after ${timeoutMs / 1000} s` : output.trim();
      resolve({ ok: code === 0, output: code === 0 ? output.trim() : why });
    });
  });
}
