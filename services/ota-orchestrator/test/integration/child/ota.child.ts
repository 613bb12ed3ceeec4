// Runs the orchestrator's main.ts as a child process (tsx, @drover/* mapped to source), for
// tests that kill -9 it.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const serviceDir = path.resolve(__dirname, '../../..');

/** Spawns the orchestrator with `env`; resolves once it logged that it started. */
export async function spawnOta(env: Record<string, string>): Promise<ChildProcess> {
  // node itself with tsx's hooks (no wrapper process), so SIGKILL hits the service.
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(serviceDir, 'src/main.ts')], {
    cwd: serviceDir,
    env: {
      ...process.env,
      ...env,
      LOG_LEVEL: 'info',
      OPS_PORT: '0',
      TSX_TSCONFIG_PATH: path.join(__dirname, 'tsconfig.json'),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-4096);
      if (seen.includes('"ota_orchestrator.started"')) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`ota-orchestrator exited early (${code})`)));
  });
  return child;
}

/** Sends `signal` and waits for the exit. */
export function killChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}
