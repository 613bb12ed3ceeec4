#!/usr/bin/env node
// `pnpm bench:rest-commands`: the command round trip a REST caller sees on a running platform
// (`npm start` in another terminal): `POST /api/v1/devices/{id}/commands` (`ping`), then the
// long poll `GET /api/v1/commands/{id}?wait_s=10`, one command after another, the clock from
// before the POST until the final command came back. Prints p50/p95/max and how many succeeded.
// Knobs: BENCH_COMMANDS (50), BENCH_DEVICES (50: sim-acme-0001 and on, the simulated fleet),
// DROVER_API (http://127.0.0.1:8080), DROVER_TOKEN (required: `npx drover token --tenant acme
// --scope admin`).
const api = `${process.env.DROVER_API ?? 'http://127.0.0.1:8080'}/api/v1`;
const token = process.env.DROVER_TOKEN;
if (!token) {
  console.error(
    'DROVER_TOKEN is not set: export DROVER_TOKEN=$(npx drover token --tenant acme' +
      ' --scope admin)',
  );
  process.exit(2);
}
const N = Number(process.env.BENCH_COMMANDS ?? 50);
const DEVICES = Number(process.env.BENCH_DEVICES ?? 50);
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

async function call(path, init = {}) {
  const res = await fetch(`${api}${path}`, { headers, ...init });
  const body = await res.json();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${body.detail}`);
  return body;
}

const times = [];
let succeeded = 0;
for (let i = 0; i < N; i++) {
  const device = `sim-acme-${String((i % DEVICES) + 1).padStart(4, '0')}`;
  const t0 = performance.now();
  const { command_id: id } = await call(`/devices/${device}/commands`, {
    method: 'POST',
    body: JSON.stringify({ name: 'ping' }),
  });
  const command = await call(`/commands/${id}?wait_s=10`);
  times.push(performance.now() - t0);
  if (command.status === 'succeeded') succeeded++;
}
times.sort((a, b) => a - b);
const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(1);
console.log(
  `REST POST + long-poll GET: n=${N} p50=${at(0.5)} ms p95=${at(0.95)} ms ` +
    `max=${at(1)} ms succeeded=${succeeded}`,
);
