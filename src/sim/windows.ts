/**
 * Sliding quota windows: "at most N accepted requests in any W ms", several
 * at once. One deque of accepted timestamps per distinct window size serves
 * both the enforcement and the maxInWindow measurement, so each request costs
 * O(1) amortized per window whatever the traffic so far.
 *
 * A timestamp `ts` is inside the window ending at `now` when ts > now - W, so
 * it stops counting exactly at ts + W: the moment its slot reopens.
 */
import type { RateWindow } from '../types.js';
import type { WindowStat } from './types.js';

/** A growable ring of timestamps, oldest first. */
class TimestampDeque {
  #buf = new Float64Array(64);
  #head = 0;
  #len = 0;

  get length(): number {
    return this.#len;
  }

  /** The i-th oldest timestamp (0 = oldest). */
  at(i: number): number {
    return this.#buf[(this.#head + i) % this.#buf.length]!;
  }

  push(t: number): void {
    if (this.#len === this.#buf.length) {
      const bigger = new Float64Array(this.#buf.length * 2);
      for (let i = 0; i < this.#len; i++) bigger[i] = this.at(i);
      this.#buf = bigger;
      this.#head = 0;
    }
    this.#buf[(this.#head + this.#len) % this.#buf.length] = t;
    this.#len++;
  }

  /** Drops every timestamp <= `limit`. */
  dropThrough(limit: number): void {
    while (this.#len > 0 && this.#buf[this.#head]! <= limit) {
      this.#head = (this.#head + 1) % this.#buf.length;
      this.#len--;
    }
  }
}

interface Tracker {
  windowMs: number;
  deque: TimestampDeque;
  max: number;
}

export type Admission = { ok: true } | { ok: false; waitMs: number };

export interface WindowState {
  window: RateWindow;
  remaining: number;
  /** Ms until the oldest counted request leaves the window (0 when none counts). */
  resetMs: number;
}

export interface SlidingWindows {
  /** Admits (and counts) a request at `now`, or says how long until every full window has a free slot. */
  tryAcquire(now: number): Admission;
  /** Each enforced window's remaining slots at `now` (for RateLimit headers). */
  state(now: number): WindowState[];
  limits(): RateWindow[];
  /** Replaces the enforced windows. A window size seen before keeps its history; a new size starts empty. */
  setLimits(limits: readonly RateWindow[]): void;
  stats(): WindowStat[];
}

export function createSlidingWindows(limits: readonly RateWindow[], watch: readonly RateWindow[] = []): SlidingWindows {
  return new Windows(limits, watch);
}

export function validateWindows(list: readonly RateWindow[], what: string): RateWindow[] {
  if (!Array.isArray(list)) throw new TypeError(`Expected ${what} to be an array of {count, windowMs}, got ${JSON.stringify(list)}.`);
  return list.map((w, i) => {
    if (!w || !Number.isInteger(w.count) || w.count < 1 || !Number.isFinite(w.windowMs) || w.windowMs <= 0) {
      throw new TypeError(`Expected ${what}[${i}] to be {count: whole number >= 1, windowMs: > 0}, got ${JSON.stringify(w)}.`);
    }
    return { count: w.count, windowMs: w.windowMs };
  });
}

class Windows implements SlidingWindows {
  #trackers = new Map<number, Tracker>();
  #limits: { window: RateWindow; tracker: Tracker }[] = [];
  #watch: { window: RateWindow; tracker: Tracker }[] = [];

  constructor(limits: readonly RateWindow[], watch: readonly RateWindow[]) {
    this.#watch = validateWindows(watch, 'watchWindows').map((w) => ({ window: w, tracker: this.#tracker(w.windowMs) }));
    this.setLimits(limits);
  }

  #tracker(windowMs: number): Tracker {
    let t = this.#trackers.get(windowMs);
    if (!t) {
      t = { windowMs, deque: new TimestampDeque(), max: 0 };
      this.#trackers.set(windowMs, t);
    }
    return t;
  }

  setLimits(limits: readonly RateWindow[]): void {
    const valid = validateWindows(limits, 'limits');
    this.#limits = valid.map((w) => ({ window: w, tracker: this.#tracker(w.windowMs) }));
    const used = new Set([...this.#limits, ...this.#watch].map((l) => l.window.windowMs));
    for (const size of [...this.#trackers.keys()]) if (!used.has(size)) this.#trackers.delete(size);
  }

  limits(): RateWindow[] {
    return this.#limits.map((l) => ({ ...l.window }));
  }

  tryAcquire(now: number): Admission {
    if (this.#trackers.size === 0) return { ok: true };
    for (const t of this.#trackers.values()) t.deque.dropThrough(now - t.windowMs);
    let waitMs = 0;
    for (const { window, tracker } of this.#limits) {
      const n = tracker.deque.length;
      if (n >= window.count) {
        // The (n - count)-th oldest must leave before the count drops below the quota.
        waitMs = Math.max(waitMs, tracker.deque.at(n - window.count) + window.windowMs - now);
      }
    }
    if (waitMs > 0) return { ok: false, waitMs };
    for (const t of this.#trackers.values()) {
      t.deque.push(now);
      if (t.deque.length > t.max) t.max = t.deque.length;
    }
    return { ok: true };
  }

  state(now: number): WindowState[] {
    return this.#limits.map(({ window, tracker }) => {
      tracker.deque.dropThrough(now - window.windowMs);
      const n = tracker.deque.length;
      return {
        window,
        remaining: Math.max(0, window.count - n),
        resetMs: n === 0 ? 0 : Math.max(0, tracker.deque.at(0) + window.windowMs - now),
      };
    });
  }

  stats(): WindowStat[] {
    return [
      ...this.#limits.map((l) => ({ windowMs: l.window.windowMs, count: l.window.count, max: l.tracker.max, enforced: true })),
      ...this.#watch.map((l) => ({ windowMs: l.window.windowMs, count: l.window.count, max: l.tracker.max, enforced: false })),
    ];
  }
}
