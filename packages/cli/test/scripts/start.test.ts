// The cheap paths of `npm start`: its usage, and stopping before any build when a server is
// missing. (Running every service is what `npm start` itself shows.)
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { closedPort } from '../helpers/capture-io';

const root = join(__dirname, '../../../..');
const exec = promisify(execFile);

async function start(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['scripts/start.mjs', ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    return err as { code: number; stdout: string; stderr: string };
  }
}

describe('npm start', () => {
  it('prints its usage', async () => {
    const res = await start(['--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('--no-build');
  });

  it('rejects an unknown flag with the usage', async () => {
    const res = await start(['--bogus']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("Unknown option '--bogus'");
  });

  it('names a missing server and how to start it, then exits 1 before building', async () => {
    const port = await closedPort();
    const res = await start([], { MQTT_URL: `mqtt://127.0.0.1:${port}` });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^MISSING Mosquitto/m);
    expect(res.stdout).toContain('start it: mosquitto -d -c /etc/mosquitto/mosquitto.conf');
    expect(res.stderr).toContain('a server the platform needs is not running');
    expect(res.stdout).not.toContain('building');
  });
});
