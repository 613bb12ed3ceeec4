// Polling of /readyz endpoints: there is no event to await across processes, so poll.
import net from 'node:net';

/** GETs `url` once; `{ok, status, body}` (status 0 when nothing answered). */
export async function probeHttp(url, timeoutMs = 1000) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    return { ok: res.status === 200, status: res.status, body };
  } catch (err) {
    return { ok: false, status: 0, body: err.cause?.code ?? err.message };
  }
}

/**
 * Polls `url` until it answers 200 or `timeoutMs` passes or `cancelled()` turns true.
 * Resolves true when it answered 200.
 */
export async function waitForOk(
  url,
  { timeoutMs = 60_000, intervalMs = 500, cancelled = () => false } = {},
) {
  const deadline = Date.now() + timeoutMs;
  while (!cancelled()) {
    if ((await probeHttp(url)).ok) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return false;
}

/** Whether something already accepts TCP connections on 127.0.0.1:`port` (a second npm start). */
export function portAccepts(port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (result) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
