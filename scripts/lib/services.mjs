// Which services `npm start` runs: every services/<name>/package.json that declares
//   "drover": { "service": true, "order": N }
// in ascending order (then by name). Each runs dist/main.js, so an unbuilt one is skipped.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const OPS_PORT_BASE = 9464;

/**
 * Scans `<root>/services/*`. Returns `{services, undeclared}`: `services` are the declared ones,
 * sorted, each `{name, dir, main, order, built, opsPort}` (ports by position, so a service
 * keeps its port when another is not built); `undeclared` names packages without the field.
 */
export function discoverServices(root, { opsPortBase = OPS_PORT_BASE } = {}) {
  const servicesDir = join(root, 'services');
  const declared = [];
  const undeclared = [];
  const entries = existsSync(servicesDir) ? readdirSync(servicesDir, { withFileTypes: true }) : [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const dir = join(servicesDir, entry.name);
    const pkgFile = join(dir, 'package.json');
    if (!existsSync(pkgFile)) continue;
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
    const meta = pkg.drover;
    if (!meta || meta.service !== true) {
      undeclared.push(entry.name);
      continue;
    }
    const order = Number.isFinite(meta.order) ? meta.order : Number.MAX_SAFE_INTEGER;
    const main = join(dir, 'dist', 'main.js');
    declared.push({ name: entry.name, dir, main, order, built: existsSync(main) });
  }
  declared.sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
  const services = declared.map((s, i) => ({ ...s, opsPort: opsPortBase + i }));
  return { services, undeclared: undeclared.sort() };
}

/** The environment a service child gets: the server URLs, its ops port, the gateway's extras. */
export function serviceEnv(service, { env, urls, apiPort, jwksFile }) {
  const childEnv = {
    ...env,
    ...urls,
    LOG_LEVEL: env.LOG_LEVEL ?? 'info',
    OPS_PORT: String(service.opsPort),
  };
  if (service.name === 'api-gateway') {
    childEnv.API_PORT = String(apiPort);
    childEnv.AUTH_JWKS_FILE = jwksFile;
  }
  return childEnv;
}
