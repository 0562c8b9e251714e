/**
 * Backoff maths, pure: randomness comes in as a number in [0, 1), so tests
 * pin it and the engine draws it. Retry-After, when a server sends one, wins.
 */

export interface BackoffOptions {
  /** The ceiling of the first retry's delay (and the floor of every delay). */
  baseMs: number;
  /** No delay exceeds this, whatever the exponent (a Retry-After may). */
  capMs: number;
  /** Lowest delay ever returned; default 0 (classic full jitter). */
  floorMs?: number;
}

/** Delays between item attempts (5xx, timeouts): 500 ms growing to 60 s. */
export const RETRY_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 60_000, floorMs: 100 };

/** Pauses after a 429 without Retry-After: from 1 s up to 60 s (the numbers). */
export const RATE_LIMIT_BACKOFF: BackoffOptions = { baseMs: 1_000, capMs: 60_000, floorMs: 1_000 };

/** What a Retry-After of 0 becomes: a short floor, never a hot loop. */
export const RETRY_AFTER_FLOOR_MS = 250;

/**
 * Exponential backoff with full jitter: a uniform draw in
 * [floor, min(cap, base * 2^(attempt-1))]. `attempt` counts from 1.
 */
export function backoffDelay(attempt: number, random: number, opts: BackoffOptions): number {
  const floor = Math.max(0, opts.floorMs ?? 0);
  const exp = Math.max(0, Math.min(60, Math.floor(attempt) - 1));
  const ceiling = Math.max(floor, Math.min(opts.capMs, opts.baseMs * 2 ** exp));
  const r = Math.min(Math.max(random, 0), 1);
  return Math.round(floor + r * (ceiling - floor));
}

/**
 * The delay before the next try: the server's Retry-After when it sent one
 * (0 raised to RETRY_AFTER_FLOOR_MS), else exponential backoff with full jitter.
 */
export function retryDelay(attempt: number, random: number, opts: BackoffOptions, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0) {
    return Math.max(RETRY_AFTER_FLOOR_MS, Math.round(retryAfterMs));
  }
  return backoffDelay(attempt, random, opts);
}

/** Scales every duration of a backoff policy (time-compressed tests and benchmarks). */
export function scaleBackoff(opts: BackoffOptions, factor: number): BackoffOptions {
  return {
    baseMs: opts.baseMs * factor,
    capMs: opts.capMs * factor,
    ...(opts.floorMs !== undefined ? { floorMs: opts.floorMs * factor } : {}),
  };
}
