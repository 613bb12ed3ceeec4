// Types for readiness.mjs.

export function probeHttp(
  url: string,
  timeoutMs?: number,
): Promise<{ ok: boolean; status: number; body: string }>;
export function waitForOk(
  url: string,
  options?: { timeoutMs?: number; intervalMs?: number; cancelled?: () => boolean },
): Promise<boolean>;
export function portAccepts(port: number, timeoutMs?: number): Promise<boolean>;
