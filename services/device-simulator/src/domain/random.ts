// Seeded randomness: every simulated value derives from SIM_SEED and the device id, so a run
// can be repeated exactly (a fault seen once can be seen again).
import prand from 'pure-rand';

/** A stream of uniform numbers in [0, 1). */
export interface Random {
  /** The next number in [0, 1). */
  next(): number;
}

/** A 32-bit seed from any parts (FNV-1a over their string forms): stable across runs. */
export function seedOf(...parts: (string | number)[]): number {
  const text = parts.join('\u0000');
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** A deterministic generator (xoroshiro128+) for `seed`. */
export function createRandom(seed: number): Random {
  const rng = prand.xoroshiro128plus(seed);
  // The first outputs of neighbouring seeds are alike: warm the generator up.
  for (let i = 0; i < 16; i++) rng.unsafeNext();
  return {
    next: () => prand.unsafeUniformIntDistribution(0, 0xffffffff, rng) / 0x100000000,
  };
}

/** Roughly normal noise with mean 0 and standard deviation ~`sd` (Irwin–Hall of three). */
export function noise(rand: Random, sd: number): number {
  return (rand.next() + rand.next() + rand.next() - 1.5) * 2 * sd;
}

/** True with probability `rate`; draws nothing when the rate is 0, so a zero rate is free. */
export function chance(rand: Random, rate: number): boolean {
  return rate > 0 && rand.next() < rate;
}
