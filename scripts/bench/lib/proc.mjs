// Helpers shared by the benchmarks: free ports, waiting for a port, and CPU seconds of processes
// read from /proc (Linux), so a benchmark can say where the machine's CPU went during a run.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Resolves once something accepts connections on 127.0.0.1:`port`. */
export async function waitPort(port, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end(() => resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} never opened`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const TICKS_PER_S = 100;

/**
 * A process's name and the fields of /proc/<pid>/stat after it (field 14, utime, is at index
 * 11); null once the process is gone.
 */
function readStat(pid) {
  let s;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    void err; // the process ended between listing and reading
    return null;
  }
  const close = s.lastIndexOf(')');
  return { name: s.slice(s.indexOf('(') + 1, close), f: s.slice(close + 2).split(' ') };
}

/** CPU seconds (user + system) of one process, children not included; NaN once it is gone. */
export function processCpuSeconds(pid) {
  const stat = readStat(pid);
  return stat === null ? NaN : (Number(stat.f[11]) + Number(stat.f[12])) / TICKS_PER_S;
}

/**
 * CPU seconds of every process by command name (`postgres` sums all its backends), with the
 * time of children already waited for (a backend that exits moves its time into the
 * postmaster's, so the sum never goes down).
 */
export function cpuByCommand() {
  const out = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = readStat(d);
    if (stat === null) continue;
    const { name, f } = stat;
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    out.set(name, (out.get(name) ?? 0) + ticks / TICKS_PER_S);
  }
  return out;
}

/** The difference of two {@link cpuByCommand} snapshots for the given names. */
export function cpuDelta(before, after, names) {
  return Object.fromEntries(names.map((n) => [n, (after.get(n) ?? 0) - (before.get(n) ?? 0)]));
}

// A fixed single-threaded piece of work (SHA-256 over 300 MiB, then 30 M square roots).
const PROBE = `const c = require('node:crypto'); const b = Buffer.alloc(1 << 20, 1);
const t = process.hrtime.bigint();
for (let i = 0; i < 300; i++) c.createHash('sha256').update(b).digest();
let x = 0; for (let i = 0; i < 3e7; i++) x += Math.sqrt(i) | 0;
process.stdout.write(String(Number(process.hrtime.bigint() - t) / 1e6 + (x < 0 ? 1 : 0)));`;

/**
 * Milliseconds a fixed single-threaded piece of work takes in a fresh Node process (the median
 * of `runs`): the machine's speed at the time of a run, so figures taken hours apart on a shared
 * or virtual machine can be compared. 270-295 ms on the development machine on 2026-11-28.
 */
export function machineProbe(runs = 3) {
  const ms = [];
  for (let i = 0; i < runs; i++) {
    ms.push(Number(execFileSync(process.execPath, ['-e', PROBE], { encoding: 'utf8' })));
  }
  ms.sort((a, b) => a - b);
  return Math.round(ms[Math.floor(ms.length / 2)]);
}
