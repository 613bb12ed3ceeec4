import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { discoverServices, serviceEnv } from '../../../../scripts/lib/services.mjs';
import { tempRepo } from '../helpers/capture-io';

describe('service discovery for npm start', () => {
  const repo = tempRepo();
  afterAll(() => repo.remove());

  function service(name: string, drover: unknown, built: boolean): void {
    const dir = join(repo.root, 'services', name);
    mkdirSync(join(dir, 'dist'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `@drover/${name}`, drover }));
    if (built) writeFileSync(join(dir, 'dist', 'main.js'), '');
  }

  beforeAll(() => {
    service('api-gateway', { service: true, order: 90 }, true);
    service('device-registry', { service: true, order: 10 }, true);
    service('mqtt-ingress', { service: true, order: 10 }, false);
    service('device-simulator', undefined, true);
    service('no-order', { service: true }, true);
    service('not-a-service', { service: false }, true);
  });

  it('orders declared services by order then name and gives ops ports by position', () => {
    const { services, undeclared } = discoverServices(repo.root);
    expect(services.map((s) => [s.name, s.order, s.built, s.opsPort])).toEqual([
      ['device-registry', 10, true, 9464],
      ['mqtt-ingress', 10, false, 9465],
      ['api-gateway', 90, true, 9466],
      ['no-order', Number.MAX_SAFE_INTEGER, true, 9467],
    ]);
    expect(services[0]?.main).toBe(join(repo.root, 'services/device-registry/dist/main.js'));
    expect(undeclared).toEqual(['device-simulator', 'not-a-service']);
  });

  it('gives every service the server URLs and its port, the gateway its API settings', () => {
    const { services } = discoverServices(repo.root, { opsPortBase: 9000 });
    const urls = { NATS_URL: 'nats://n', DATABASE_URL: 'postgres://p' };
    const opts = {
      env: { HOME: '/h', LOG_LEVEL: 'debug' },
      urls,
      apiPort: 8081,
      jwksFile: '/k.json',
    };
    const registry = serviceEnv(services[0]!, opts);
    expect(registry).toMatchObject({
      HOME: '/h',
      NATS_URL: 'nats://n',
      OPS_PORT: '9000',
      LOG_LEVEL: 'debug',
    });
    expect(registry.API_PORT).toBeUndefined();
    const gateway = serviceEnv(services[2]!, { ...opts, env: {} });
    expect(gateway).toMatchObject({
      API_PORT: '8081',
      AUTH_JWKS_FILE: '/k.json',
      LOG_LEVEL: 'info',
    });
  });

  it('finds nothing in a tree without services/', () => {
    const empty = tempRepo();
    expect(discoverServices(empty.root)).toEqual({ services: [], undeclared: [] });
    empty.remove();
  });
});
