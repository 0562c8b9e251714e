/**
 * mulberry32: a tiny seeded PRNG. The simulator's faults and jitter, the
 * sample export and the chaos tests draw from it, so a seed reproduces the
 * same sequence of decisions.
 */
export type Random = () => number;

export function createRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
