// Process and Prometheus figures for the benchmarks: CPU seconds and resident memory of a
// process from /proc (children are not included), and counters, gauges and histogram quantiles
// read from a service's /metrics text.
import { readFile } from 'node:fs/promises';

/** utime + stime of a process in seconds; NaN when it is gone (`processCpuSeconds`). */
export { processCpuSeconds as cpuSeconds } from './proc.mjs';

/** Resident memory of a process in bytes; NaN when it is gone. */
export async function rssBytes(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) * 1024;
  } catch (err) {
    void err; // the process exited: no figure
    return NaN;
  }
}

/** Open file descriptors of a process (NaN when it is gone). */
export async function openFiles(pid) {
  const { readdir } = await import('node:fs/promises');
  try {
    return (await readdir(`/proc/${pid}/fd`)).length;
  } catch (err) {
    void err; // the process exited: no figure
    return NaN;
  }
}

/** GETs a /metrics page; resolves '' when it does not answer within `timeoutMs`. */
export async function scrape(port, timeoutMs = 5000) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    return res.ok ? await res.text() : '';
  } catch (err) {
    void err; // not up (yet) or overloaded: the caller treats '' as "no figure"
    return '';
  }
}

/** Sum of every sample of a counter or gauge `name` (all label sets). */
export function metricSum(text, name) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Cumulative buckets of histogram `name` summed over label sets: Map(le → count). */
export function histogramBuckets(text, name) {
  const buckets = new Map();
  const prefix = `${name}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return buckets;
}

/** The difference of two bucket maps (after − before). */
export function bucketDelta(after, before) {
  return new Map([...after].map(([le, n]) => [le, n - (before.get(le) ?? 0)]));
}

/**
 * Quantile q of cumulative buckets, interpolated linearly inside the bucket that holds it (what
 * Prometheus' histogram_quantile does); NaN without observations, the highest finite bound when
 * it falls in +Inf.
 */
export function histogramQuantile(buckets, q) {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Infinity) return prevBound;
      const inBucket = count - prevCount;
      return inBucket === 0
        ? bound
        : prevBound + ((bound - prevBound) * (rank - prevCount)) / inBucket;
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}

/** Samples of counter `name` summed per value of `label`: `{value: n}`. */
export function metricByLabel(text, name, label) {
  const out = {};
  const re = new RegExp(`${label}="([^"]*)"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const key = re.exec(line)?.[1] ?? '';
    out[key] = (out[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}
