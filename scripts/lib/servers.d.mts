// Types for servers.mjs (used by the TypeScript tests in packages/cli/test/scripts).

/** The outcome of one probe. */
export interface ProbeResult {
  /** A real server of that kind answered. */
  ok: boolean;
  /** What answered, or why nothing usable did. */
  detail: string;
}

/** One server in the report. */
export interface ServerResult extends ProbeResult {
  /** Display name, e.g. `Redis`. */
  name: string;
  /** The environment variable holding its URL. */
  env: string;
  /** The URL probed. */
  url: string;
  /** The command that starts it, when it is missing. */
  hint: string | undefined;
}

/** A server the platform needs. */
export interface ServerSpec {
  /** Display name. */
  name: string;
  /** The URL variable. */
  env: string;
  /** The probe. */
  check: (url: string, timeoutMs?: number) => Promise<ProbeResult>;
  /** The binary whose presence selects the native start command. */
  binary: string;
  /** The native start command for a port. */
  start: (port?: string) => string;
}

export const DEFAULT_URLS: Record<'NATS_URL' | 'DATABASE_URL' | 'REDIS_URL' | 'MQTT_URL', string>;
export const SERVERS: ServerSpec[];
export function checkNats(url?: string, timeoutMs?: number): Promise<ProbeResult>;
export function checkPostgres(url?: string, timeoutMs?: number): Promise<ProbeResult>;
export function checkRedis(url?: string, timeoutMs?: number): Promise<ProbeResult>;
export function checkMqtt(url?: string, timeoutMs?: number): Promise<ProbeResult>;
export function mqttConnectPacket(clientId: string, username?: string, password?: string): Buffer;
export function startHint(server: ServerSpec, url: string): string;
export function checkServers(
  env?: Record<string, string | undefined>,
  timeoutMs?: number,
): Promise<ServerResult[]>;
export function formatServerReport(results: ServerResult[]): string;
export function redact(url: string): string;
