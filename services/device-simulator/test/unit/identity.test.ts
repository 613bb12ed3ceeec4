// Pre-issued fleet identities (SIM_IDENTITY_FILE): the benchmark's way to connect thousands of
// devices over mTLS without a provisioning round trip each, and the configuration rule with it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadSimulatorConfig } from '../../src/config';
import { planFleet } from '../../src/domain/fleet-plan';
import { preissuedIdentity } from '../../src/identity-source';

describe('pre-issued identities', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sim-identity-'));
    await writeFile(
      path.join(dir, 'ids.json'),
      JSON.stringify({ 'sim-acme-0001': { cert: 'CERT-1', key: 'KEY-1' } }),
    );
    await writeFile(path.join(dir, 'ca.pem'), 'CA');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('gives each device its own certificate on the fleet listener', async () => {
    const source = await preissuedIdentity({
      file: path.join(dir, 'ids.json'),
      url: 'mqtts://127.0.0.1:8883',
      caFile: path.join(dir, 'ca.pem'),
    });
    const [first, second] = planFleet({ tenant: 'acme', size: 2, seed: 1 });
    await expect(source.connectionFor(first!)).resolves.toEqual({
      url: 'mqtts://127.0.0.1:8883',
      options: { cert: 'CERT-1', key: 'KEY-1', ca: 'CA' },
    });
    await expect(source.connectionFor(second!)).rejects.toThrow(/no identity for sim-acme-0002/);
  });

  it('needs the fleet listener with the identity file', () => {
    const env = { NATS_URL: 'nats://x', SIM_REGISTER: 'false', SIM_IDENTITY_FILE: 'ids.json' };
    expect(() => loadSimulatorConfig(env)).toThrow(/SIM_FLEET_MQTT_URL/);
    expect(
      loadSimulatorConfig({ ...env, SIM_FLEET_MQTT_URL: 'mqtts://127.0.0.1:8883' })
        .SIM_IDENTITY_FILE,
    ).toBe('ids.json');
  });
});
