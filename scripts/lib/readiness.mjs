// Polling of /readyz endpoints: there is no event to await across processes, so poll.

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
