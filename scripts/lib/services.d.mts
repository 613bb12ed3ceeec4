// Types for services.mjs.

/** A service declared with `"drover": {"service": true, "order": N}`. */
export interface ServiceInfo {
  /** The directory name under services/. */
  name: string;
  /** Its directory. */
  dir: string;
  /** dist/main.js, what runs. */
  main: string;
  /** Start order (ascending). */
  order: number;
  /** Whether dist/main.js exists. */
  built: boolean;
  /** Its OPS_PORT. */
  opsPort: number;
}

export const OPS_PORT_BASE: number;
export function discoverServices(
  root: string,
  options?: { opsPortBase?: number },
): { services: ServiceInfo[]; undeclared: string[] };
export function serviceEnv(
  service: ServiceInfo,
  options: {
    env: Record<string, string | undefined>;
    urls: Record<string, string>;
    apiPort: number;
    jwksFile: string;
  },
): Record<string, string | undefined>;
