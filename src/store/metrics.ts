/**
 * Latency histogram buckets shared by the store (columns h0..hN) and whoever
 * computes percentiles from them. Fixed buckets make histograms of different
 * runs addable; a percentile is read as the upper bound of its bucket.
 */

/** Upper bounds (inclusive, ms) of the latency buckets; one more bucket holds everything slower. */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000, 30_000, 60_000,
];

/** An empty histogram: one count per bucket plus the overflow bucket. */
export function emptyHistogram(): number[] {
  return new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
}

/** The bucket index for a latency in ms. */
export function bucketOf(latencyMs: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if (latencyMs <= LATENCY_BUCKETS_MS[i]!) return i;
  return LATENCY_BUCKETS_MS.length;
}

/**
 * The `p`-th percentile (0 < p <= 100) of a histogram, as the upper bound of
 * the bucket it falls in (the overflow bucket reports twice the last bound).
 * 0 for an empty histogram.
 */
export function percentile(histogram: readonly number[], p: number): number {
  const total = histogram.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i] ?? 0;
    if (seen >= rank) return LATENCY_BUCKETS_MS[i] ?? LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]! * 2;
  }
  return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]! * 2;
}
