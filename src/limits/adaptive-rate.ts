/**
 * The adaptive layer over the window limiter: what to do when the server is
 * stricter than the runner was told (a smaller quota, another client sharing
 * it, a proxy with its own limit).
 *
 * - A 429 pauses every send: until Retry-After when the server sends one (0 is
 *   raised to a short floor), else for an exponential backoff with full jitter
 *   (1 s up to 60 s by default).
 * - A 429 also lowers the effective quota (the limiter's scale) multiplicatively
 *   from what was actually flowing: the share of each configured window that
 *   the server *accepted* in that window just before it said no. When the
 *   server's windows are the configured ones scaled (half the quota, or 70%
 *   left by another client), that share is exactly the server's real fraction.
 * - After a quiet period (no 429 for the longest window, by default) during
 *   which the limiter was the bottleneck, the scale rises additively; it never
 *   exceeds the configured windows, nor what a RateLimit-Policy announced.
 * - 429s of sends that started before the last reaction are echoes of the same
 *   overload: they may lengthen the pause but do not lower the rate again.
 *
 * Pure state machine: time from the injected clock, randomness injected.
 */
import type { Clock } from '../clock.js';
import type { RateLimitInfo } from '../http/headers.js';
import { type BackoffOptions, RATE_LIMIT_BACKOFF, RETRY_AFTER_FLOOR_MS, backoffDelay } from './backoff.js';
import type { WindowLimiter } from './window-limiter.js';

export interface AdaptiveOptions {
  limiter: WindowLimiter;
  clock: Pick<Clock, 'now'>;
  /** Uniform in [0, 1); default Math.random. */
  random?: () => number;
  /** Pause after a 429 without Retry-After; default 1 s .. 60 s. */
  backoff?: BackoffOptions;
  /** What Retry-After: 0 becomes; default 250 ms. */
  retryAfterFloorMs?: number;
  /** Quiet time before each additive increase; default the longest window. */
  quietMs?: number;
  /** Multiplier applied to the measured accepted share on a 429; default 0.95. */
  decrease?: number;
  /** Added to the scale after each quiet period; default 0.05. */
  increaseStep?: number;
  /** The scale never drops below this; default 0.02. */
  minScale?: number;
}

/** Serializable, for persistence between runs. */
export interface AdaptiveState {
  scale: number;
  maxScale: number;
  pauseUntil: number;
  consecutive: number;
  lastEventAt: number;
}

export interface ResponseSignal {
  /** When the send started (the gate returns it from acquire). */
  startedAt: number;
  /** HTTP status; undefined for a network error. */
  status?: number;
  retryAfterMs?: number;
  rateLimit?: RateLimitInfo;
  /** Start to end of body, for the limiter's safety margin. */
  latencyMs?: number;
}

export interface AdaptiveStats {
  events: number;
  decreases: number;
  increases: number;
  pausedMs: number;
}

export interface AdaptiveRate {
  /** Feeds one response. Returns the pause now in force (0 when none). */
  onResponse(r: ResponseSignal): number;
  /** Ms until sends may resume (0 when not paused). */
  pauseRemaining(): number;
  /** The gate tells: a send had to wait for the limiter (demand exceeds the rate). */
  noteLimited(): void;
  /** Applies an additive increase when one is due; call before each admission. */
  tick(): void;
  readonly scale: number;
  state(): AdaptiveState;
  restore(s: Partial<AdaptiveState>): void;
  stats(): AdaptiveStats;
}

export function createAdaptiveRate(opts: AdaptiveOptions): AdaptiveRate {
  const { limiter, clock } = opts;
  const random = opts.random ?? Math.random;
  const backoff = opts.backoff ?? RATE_LIMIT_BACKOFF;
  const floorMs = opts.retryAfterFloorMs ?? RETRY_AFTER_FLOOR_MS;
  const windows = limiter.windows;
  const longestMs = windows.reduce((m, w) => Math.max(m, w.windowMs), 0);
  const quietMs = opts.quietMs ?? Math.max(1000, longestMs);
  const decrease = opts.decrease ?? 0.95;
  const step = opts.increaseStep ?? 0.05;
  const minScale = opts.minScale ?? 0.02;

  let scale = limiter.scale;
  let maxScale = 1;
  let pauseUntil = 0;
  let consecutive = 0;
  let lastEventAt = -Infinity;
  let lastIncreaseAt = clock.now();
  let limited = false;
  const stats: AdaptiveStats = { events: 0, decreases: 0, increases: 0, pausedMs: 0 };

  // Start times of accepted sends within the longest window, roughly in order
  // (responses arrive out of order; counting filters by time, pruning is lazy).
  let accepted: number[] = [];
  let acceptedHead = 0;

  const apply = (s: number) => {
    scale = Math.max(minScale, Math.min(maxScale, s));
    limiter.setScale(scale);
  };

  function pauseFor(ms: number, now: number): void {
    const until = now + ms;
    if (until > pauseUntil) {
      stats.pausedMs += until - Math.max(now, pauseUntil);
      pauseUntil = until;
    }
  }

  function acceptedShare(now: number): number {
    if (acceptedHead > 1024 && acceptedHead > accepted.length / 2) {
      accepted = accepted.slice(acceptedHead);
      acceptedHead = 0;
    }
    while (acceptedHead < accepted.length && accepted[acceptedHead]! <= now - longestMs) acceptedHead++;
    let share = 0;
    for (const w of windows) {
      let n = 0;
      for (let i = acceptedHead; i < accepted.length; i++) if (accepted[i]! > now - w.windowMs) n++;
      share = Math.max(share, n / w.count);
    }
    return share;
  }

  return {
    get scale() {
      return scale;
    },
    onResponse(r) {
      const now = clock.now();
      if (r.rateLimit) {
        const info = r.rateLimit;
        for (const p of info.policies) {
          const mine = windows.find((w) => w.windowMs === p.windowMs);
          if (mine && p.count < mine.count) maxScale = Math.min(maxScale, p.count / mine.count);
        }
        if (scale > maxScale) apply(maxScale);
        if (info.remaining === 0 && info.resetMs !== undefined && r.status !== 429) pauseFor(Math.max(floorMs, info.resetMs), now);
      }
      if (r.status === undefined) return this.pauseRemaining();
      if (r.status !== 429) {
        if (r.status < 500) {
          accepted.push(r.startedAt);
          if (r.startedAt >= lastEventAt) consecutive = 0;
        }
        return this.pauseRemaining();
      }
      const echo = r.startedAt < lastEventAt;
      if (!echo) {
        stats.events++;
        consecutive++;
        lastEventAt = now;
        const share = acceptedShare(now);
        const from = share > 0 && share < scale ? share : scale;
        const next = Math.max(scale * 0.25, from * decrease);
        if (next < scale) stats.decreases++;
        apply(next);
        lastIncreaseAt = now;
        limited = false;
      }
      if (r.retryAfterMs !== undefined) pauseFor(Math.max(floorMs, r.retryAfterMs), now);
      else if (!echo) pauseFor(backoffDelay(consecutive, random(), backoff), now);
      return this.pauseRemaining();
    },
    pauseRemaining() {
      return Math.max(0, pauseUntil - clock.now());
    },
    noteLimited() {
      limited = true;
    },
    tick() {
      if (scale >= maxScale) return;
      const now = clock.now();
      if (now - Math.max(lastEventAt, lastIncreaseAt) < quietMs) return;
      lastIncreaseAt = now;
      if (!limited) return;
      limited = false;
      stats.increases++;
      apply(scale + step);
    },
    state: () => ({ scale, maxScale, pauseUntil, consecutive, lastEventAt: Number.isFinite(lastEventAt) ? lastEventAt : 0 }),
    restore(s) {
      if (s.maxScale !== undefined && s.maxScale > 0) maxScale = Math.min(1, s.maxScale);
      if (s.scale !== undefined && s.scale > 0) apply(s.scale);
      if (s.pauseUntil !== undefined) pauseUntil = Math.max(pauseUntil, s.pauseUntil);
      if (s.consecutive !== undefined) consecutive = s.consecutive;
      if (s.lastEventAt) lastEventAt = s.lastEventAt;
    },
    stats: () => ({ ...stats }),
  };
}
