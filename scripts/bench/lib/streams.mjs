// Waiting for the bus to go quiet: a benchmark starts its clock only once the services have
// worked off what its set-up caused (presence of thousands of devices, their events), so the
// measured run does not share the machine with a backlog that is not part of it.

/** Messages not yet delivered or not yet acked, over every durable consumer of `streams`. */
async function pendingMessages(jsm, streams) {
  let pending = 0;
  for (const stream of streams) {
    for await (const c of jsm.consumers.list(stream)) pending += c.num_pending + c.num_ack_pending;
  }
  return pending;
}

/**
 * Waits until `quiet()` (optional, e.g. an outbox with nothing unsent) holds and no durable
 * consumer of `streams` has anything pending, twice in a row 250 ms apart (an outbox relay may
 * publish between two looks); throws after `timeoutMs`.
 */
export async function drained(jsm, streams, label, { quiet, timeoutMs = 600_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let calm = 0;
  for (;;) {
    const pending = await pendingMessages(jsm, streams);
    const ok = pending === 0 && (quiet === undefined || (await quiet()));
    calm = ok ? calm + 1 : 0;
    if (calm >= 2) return;
    if (Date.now() > deadline) throw new Error(`${label}: ${pending} messages still pending`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
