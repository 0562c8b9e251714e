/**
 * The sliding multi-window limiter: "at most N sends start in any W ms", for
 * every configured window at once. Pure: time comes from the injected clock,
 * nothing sleeps here (the gate owns the one timer).
 *
 * Invariant: for each window, a ring buffer holds the start times of the last
 * N starts, oldest first. A new start is allowed at `now` when the buffer is
 * not yet full or its oldest entry is at least W (+ the safety margin) old,
 * so every check and every record is O(1) per window.
 *
 * The adaptive layer may lower the effective quota with `setScale(f)`: each
 * window then admits floor(N * f) (at least 1); the check reads the entry
 * floor(N * f) back from the newest, still O(1).
 *
 * The safety margin widens every window a little: the server counts arrivals,
 * we count starts, and a request whose TLS handshake delays it can arrive
 * later than one started after it, and a busy event loop can hold a request
 * between its admission and the socket. A request arrives no later than its
 * response, so the gate `settle`s each start forward to its response time
 * (bounded, so a hung request cannot stall the run); the margin covers the
 * rest.
 *
 * Settled entries may leave a ring slightly out of order; the check reads
 * one entry by position, which stays conservative for the entry it reads.
 */
import type { Clock } from '../clock.js';
import type { RateWindow } from '../types.js';

export interface WindowLimiter {
  /** The configured windows (never changed by scaling). */
  readonly windows: readonly RateWindow[];
  /**
   * Ms to wait before a send may start; 0 means it may start now and the
   * start has been recorded in every window.
   */
  reserve(): number;
  /** Like reserve() but records nothing. */
  peek(): number;
  /** Records a start without checking (a send that bypassed the limiter, or restored history). */
  record(at?: number): void;
  /** Sequence number of the last recorded start (1 for the first). */
  readonly lastSeq: number;
  /**
   * Moves the recorded time of start `seq` forward to `at` (when its response
   * arrived: the server counted it no later), by at most `maxShiftMs`.
   * No effect once the start has left every window's buffer.
   */
  settle(seq: number, at: number, maxShiftMs: number): void;
  /** Starts recorded in the last `windowMs` (bounded by the largest window count). */
  countSince(windowMs: number): number;
  /** The effective quota fraction in (0, 1]. */
  readonly scale: number;
  setScale(fraction: number): void;
  /** Send times still inside the longest window, oldest first: what a resumed run must respect. */
  snapshot(): number[];
  /** Records the given start times (oldest first); those older than the longest window are ignored. */
  restore(timestamps: readonly number[]): void;
  /** Ms added to every window (see the module comment). */
  readonly safetyMarginMs: number;
  setSafetyMargin(ms: number): void;
}

export interface WindowLimiterOptions {
  /** Added to every window's length; default: 2% of the shortest window, between 25 ms and 1 s. */
  safetyMarginMs?: number;
}

/** A fixed-capacity ring of the newest `capacity` timestamps. */
class Ring {
  readonly #buf: Float64Array;
  #next = 0;
  #len = 0;
  constructor(readonly capacity: number) {
    this.#buf = new Float64Array(capacity);
  }
  get length(): number {
    return this.#len;
  }
  push(t: number): void {
    this.#buf[this.#next] = t;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#len < this.capacity) this.#len++;
  }
  /** The k-th newest (1 = newest); k <= length. */
  newest(k: number): number {
    return this.#buf[(this.#next - k + this.capacity * 2) % this.capacity]!;
  }
  /** Raises the entry pushed `back` pushes ago (0 = newest) to at most `to`, shifting it by at most `maxShift`. */
  raise(back: number, to: number, maxShift: number): void {
    if (back < 0 || back >= this.#len) return;
    const i = (this.#next - 1 - back + this.capacity * 2) % this.capacity;
    const v = this.#buf[i]!;
    this.#buf[i] = Math.max(v, Math.min(to, v + maxShift));
  }
}

export function defaultSafetyMarginMs(windows: readonly RateWindow[]): number {
  if (windows.length === 0) return 0;
  const shortest = Math.min(...windows.map((w) => w.windowMs));
  return Math.min(1000, Math.max(25, Math.round(shortest * 0.02)));
}

export function createWindowLimiter(windows: readonly RateWindow[], clock: Pick<Clock, 'now'>, opts: WindowLimiterOptions = {}): WindowLimiter {
  for (const w of windows) {
    if (!(Number.isInteger(w.count) && w.count >= 1 && w.windowMs > 0)) {
      throw new RangeError(`Expected every window to allow a whole number >= 1 of requests in more than 0 ms, got ${w.count}/${w.windowMs}ms.`);
    }
  }
  let margin = opts.safetyMarginMs ?? defaultSafetyMarginMs(windows);
  const rings = windows.map((w) => ({ w, ring: new Ring(w.count) }));
  // The ring with the largest count holds every start any other ring holds.
  const widest = rings.reduce<(typeof rings)[number] | undefined>((a, b) => (!a || b.w.count > a.w.count ? b : a), undefined);
  const longestMs = windows.reduce((m, w) => Math.max(m, w.windowMs), 0);
  let scale = 1;

  const effective = (count: number): number => Math.max(1, Math.floor(count * scale + 1e-9));

  function waitAt(now: number): number {
    let wait = 0;
    for (const { w, ring } of rings) {
      const n = effective(w.count);
      if (ring.length < n) continue;
      const freeAt = ring.newest(n) + w.windowMs + margin;
      if (freeAt > now) wait = Math.max(wait, freeAt - now);
    }
    return Math.ceil(wait);
  }

  let seq = 0;
  function record(at: number): void {
    seq++;
    for (const { ring } of rings) ring.push(at);
  }

  return {
    windows,
    get scale() {
      return scale;
    },
    get safetyMarginMs() {
      return margin;
    },
    setSafetyMargin(ms) {
      if (ms >= 0 && Number.isFinite(ms)) margin = Math.ceil(ms);
    },
    reserve() {
      const now = clock.now();
      const wait = waitAt(now);
      if (wait === 0) record(now);
      return wait;
    },
    peek: () => waitAt(clock.now()),
    record: (at = clock.now()) => record(at),
    get lastSeq() {
      return seq;
    },
    settle(which, at, maxShiftMs) {
      for (const { ring } of rings) ring.raise(seq - which, at, maxShiftMs);
    },
    countSince(windowMs) {
      if (!widest) return 0;
      const since = clock.now() - windowMs;
      let n = 0;
      while (n < widest.ring.length && widest.ring.newest(n + 1) > since) n++;
      return n;
    },
    setScale(fraction) {
      if (!(fraction > 0)) throw new RangeError(`Expected a rate fraction above 0, got ${fraction}.`);
      scale = Math.min(1, fraction);
    },
    snapshot() {
      if (!widest) return [];
      const since = clock.now() - longestMs - margin;
      const out: number[] = [];
      for (let k = widest.ring.length; k >= 1; k--) {
        const t = widest.ring.newest(k);
        if (t > since) out.push(t);
      }
      return out;
    },
    restore(timestamps) {
      const since = clock.now() - longestMs - margin;
      for (const t of timestamps) if (Number.isFinite(t) && t > since) record(t);
    },
  };
}
