/**
 * The adaptive layer over the window limiter: what to do when the server is
 * stricter than the runner was told (a smaller quota, another client sharing
 * it, a proxy with its own limit).
 *
 * - A 429 pauses every send: until Retry-After when the server sends one (0 is
 *   raised to a short floor), else for an exponential backoff with full jitter
 *   (1 s up to 60 s by default).
 * - A 429 lowers the effective quota (the limiter's scale) to what was
 *   actually flowing when the server said no. For each configured window it
 *   counts the sends the server had counted in that window when it refused:
 *   those not refused whose arrival (estimated from start and answer) falls
 *   inside it, the ones still in flight that set out before the refused one
 *   included. The largest share of a window's count wins. When the server's
 *   windows are the configured ones scaled (half the quota) or shrunk by
 *   another client, that is the server's real quota: *learned*, not guessed,
 *   and running at it causes no further 429s. Once every send that started
 *   before the refused one is back, the share is measured again without the
 *   ones refused as well (this only ever lowers the rate).
 * - A 429 that teaches nothing (the measured share is not below the rate just
 *   set) soon after the last one means the measurement missed the binding
 *   window (a window we were not told): the cut is then multiplicative, 3%
 *   doubling with each repeat (at most halving), so it converges in a few.
 * - One refusal lowers the rate to a quarter of what it was at most, its
 *   refinement included: a burst refused within one second (a short window we
 *   were not told reads as a small share of a long one) cannot cut deeper.
 * - Raising, additively: after a quiet period (no 429 for `quietMs`, default
 *   the shortest window, the time the server takes to forget a burst) during
 *   which the limiter was the bottleneck, the scale grows by a step that starts
 *   at one request of the smallest window and doubles with each probe that
 *   passes (a server that loosened is found in a few periods). A level just set
 *   by a 429 is trusted for two quiet periods before the first probe; a probe
 *   is known ground once it held for the longest window. A probe that fails
 *   where the last one failed costs a request or two and a pause, and the level
 *   counts as the server's: the next probe waits 4x, then 8x the longest
 *   window: a steady server is probed rarely. Never above the
 *   configured windows, nor what a RateLimit-Policy announced.
 * - 429s of sends that set out before the last reaction (by the limiter's
 *   sequence number: those admitted in the very millisecond of the reaction
 *   included) are echoes of the same overload: they may lengthen the pause
 *   but do not lower the rate again.
 * - A restored state (an earlier run's) fades: each longest window since its
 *   last 429 halves the distance of its rate to the configured one.
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
  /**
   * Quiet time before each additive increase; default the shortest window. When given, it also
   * replaces the longest window as the wait of a probe above a confirmed level and the time a
   * probe must hold to be known ground.
   */
  quietMs?: number;
  /**
   * The multiplicative cut when a 429 teaches nothing measurable; it doubles
   * with each repeat within a quiet period (at most halving). Default 0.03.
   */
  cut?: number;
  /** The first additive step; default one request of the smallest window (1 / its count). */
  increaseStep?: number;
  /** The largest additive step; default 0.25. */
  maxIncreaseStep?: number;
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
  /** The share the server accepted when it last said no (1 when it never did). */
  ceiling?: number;
  /** Probes above the ceiling that failed in a row. */
  failedProbes?: number;
}

export interface ResponseSignal {
  /** When the send started (the gate returns it from acquire). */
  startedAt: number;
  /** The limiter's sequence number of the send (the gate's ticket), for measuring what was flowing. */
  seq?: number;
  /** HTTP status; undefined for a network error. */
  status?: number;
  retryAfterMs?: number;
  rateLimit?: RateLimitInfo;
  /** Start to end of body. */
  latencyMs?: number;
}

export interface AdaptiveStats {
  events: number;
  decreases: number;
  increases: number;
  pausedMs: number;
  /** Probes above the learned ceiling that the server refused. */
  failedProbes: number;
}

export interface AdaptiveRate {
  /** Feeds one response. Returns the pause now in force (0 when none). Feed the limiter (settle/release) first. */
  onResponse(r: ResponseSignal): number;
  /** Ms until sends may resume (0 when not paused). */
  pauseRemaining(): number;
  /** The gate tells: a send had to wait for the limiter (demand exceeds the rate). */
  noteLimited(): void;
  /** Applies an additive increase when one is due; call before each admission. */
  tick(): void;
  readonly scale: number;
  /** The learned share of the configured quota (1 until a 429 taught otherwise). */
  readonly ceiling: number;
  state(): AdaptiveState;
  restore(s: Partial<AdaptiveState>): void;
  stats(): AdaptiveStats;
}

const MAX_PROBE_BACKOFF_EXP = 3;

export function createAdaptiveRate(opts: AdaptiveOptions): AdaptiveRate {
  const { limiter, clock } = opts;
  const random = opts.random ?? Math.random;
  const backoff = opts.backoff ?? RATE_LIMIT_BACKOFF;
  const floorMs = opts.retryAfterFloorMs ?? RETRY_AFTER_FLOOR_MS;
  const windows = limiter.windows;
  const longestMs = windows.reduce((m, w) => Math.max(m, w.windowMs), 0);
  const smallestCount = windows.reduce((m, w) => Math.min(m, w.count), Infinity);
  const shortestMs = windows.reduce((m, w) => Math.min(m, w.windowMs), Infinity);
  const quietMs = opts.quietMs ?? Math.max(1000, Number.isFinite(shortestMs) ? shortestMs : 0);
  /**
   * Default the longest window: how long a probe must hold to be known ground, the wait unit above a
   * level the server confirmed (a probe failed where the last one did), and what "soon" means for repeats.
   */
  const settledMs = opts.quietMs ?? Math.max(1000, longestMs);
  const cut = opts.cut ?? 0.03;
  const baseStep = opts.increaseStep ?? (Number.isFinite(smallestCount) ? 1 / smallestCount : 0.05);
  const maxStep = Math.max(baseStep, opts.maxIncreaseStep ?? 0.25);
  const minScale = opts.minScale ?? 0.02;

  let scale = limiter.scale;
  let maxScale = 1;
  let pauseUntil = 0;
  let consecutive = 0;
  let lastEventAt = -Infinity;
  /** The limiter's last sequence number when the last refusal was reacted to (0: none in this process). */
  let eventSeq = 0;
  let lastIncreaseAt = clock.now();
  let limited = false;
  let ceiling = 1;
  let step = baseStep;
  let failedProbes = 0;
  let repeats = 0;
  /** The probes since the last refusal, oldest first: each is known ground once it held for the longest window. */
  let probes: { at: number; scale: number }[] = [];
  /**
   * The refused send whose measurement is final once every earlier send is back, and the lowest
   * scale its refusal may set (a quarter of the scale before it, like the first reaction).
   */
  let pending: { seq: number; at: number; floor: number } | undefined;
  // Round trips (answer - start) of recent accepted sends; the smallest is the
  // server's own answer time, what a send's answer trails its arrival by.
  const trips = new Float64Array(64).fill(Number.POSITIVE_INFINITY);
  let tripNext = 0;
  const lagMs = () => {
    let m = Number.POSITIVE_INFINITY;
    for (const t of trips) if (t < m) m = t;
    return Number.isFinite(m) ? m : 0;
  };
  const stats: AdaptiveStats = { events: 0, decreases: 0, increases: 0, pausedMs: 0, failedProbes: 0 };

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

  /**
   * The largest share of a configured window the server had counted when it
   * refused send `seq` (answered at `at`: a 429 is answered on arrival);
   * undefined when unmeasurable.
   */
  function flowingShare(seq: number | undefined, at: number): number | undefined {
    if (seq === undefined || windows.length === 0) return undefined;
    const lag = lagMs();
    let share = 0;
    for (const w of windows) share = Math.max(share, limiter.countedIn(at, w.windowMs, lag, seq) / w.count);
    return share > 0 ? share : undefined;
  }

  /**
   * The send set out before the last reaction to a refusal: its answer reports the same overload.
   * By sequence number when there is one: sends admitted in the millisecond of the reaction, before
   * the gate heard of the 429, started at the very time of the reaction and are echoes too (a pause
   * follows every reaction, so nothing starts after it in that millisecond).
   */
  const setOutBefore = (r: ResponseSignal): boolean =>
    r.seq !== undefined && r.seq > 0 && eventSeq > 0 ? r.seq <= eventSeq : r.startedAt < lastEventAt;

  function onEvent(r: ResponseSignal, now: number): void {
    stats.events++;
    consecutive++;
    const soon = now - lastEventAt < settledMs;
    lastEventAt = now;
    eventSeq = limiter.lastSeq;
    const measured = flowingShare(r.seq, now);
    const probing = scale > ceiling + 1e-9;
    // A probe above the learned level failed where it failed before: probe more rarely.
    if (probing && measured !== undefined && measured >= ceiling - baseStep - 1e-9) {
      failedProbes = Math.min(failedProbes + 1, MAX_PROBE_BACKOFF_EXP);
      stats.failedProbes++;
    } else failedProbes = 0;
    const learned = measured !== undefined && measured < scale - baseStep + 1e-9;
    // A level set by a refusal (not a failed probe) is trusted for two quiet periods before the first probe above it.
    if (!probing) failedProbes = Math.max(failedProbes, 1);
    let next = measured !== undefined && measured < scale ? measured : scale * (1 - cut);
    // Refused again soon at the level just set, and the measurement says
    // nothing new: it missed the binding window (another client, a window we
    // were not told). Cut multiplicatively, harder each time it repeats.
    repeats = soon && !probing && !learned ? repeats + 1 : 0;
    if (repeats > 0) next = Math.min(next, scale * Math.max(0.5, 1 - cut * 2 ** (repeats - 1)));
    // One refusal (its echoes and its refinement included) cuts the rate to a quarter at most.
    const floor = scale * 0.25;
    next = Math.max(next, floor);
    if (next < scale) stats.decreases++;
    apply(next);
    ceiling = scale;
    probes = [];
    step = baseStep;
    lastIncreaseAt = now;
    limited = false;
    pending = r.seq !== undefined ? { seq: r.seq, at: now, floor } : undefined;
    refine(); // final at once when nothing earlier is still out
  }

  /** Re-measures the last refusal once every send that started before it is back (the refused ones then drop out). */
  function refine(): void {
    if (!pending) return;
    const oldest = limiter.oldestInFlight();
    if (oldest !== undefined && oldest < pending.seq) return;
    const measured = flowingShare(pending.seq, pending.at);
    const { floor } = pending;
    pending = undefined;
    if (measured !== undefined && measured < scale) {
      apply(Math.max(measured, floor));
      ceiling = Math.min(ceiling, scale);
    }
  }

  return {
    get scale() {
      return scale;
    },
    get ceiling() {
      return ceiling;
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
      if (r.status !== 429) {
        if (r.status !== undefined && r.status < 500) {
          if (!setOutBefore(r)) consecutive = 0;
          trips[tripNext] = Math.max(0, now - r.startedAt);
          tripNext = (tripNext + 1) % trips.length;
        }
        refine();
        return this.pauseRemaining();
      }
      const echo = setOutBefore(r);
      if (!echo) onEvent(r, now);
      else refine();
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
      const now = clock.now();
      const since = now - Math.max(lastEventAt, lastIncreaseAt);
      // The server took a probe's rate for a whole longest window: known ground now, and probing may go on apace.
      while (probes.length > 0 && now - probes[0]!.at >= settledMs) {
        const p = probes.shift()!;
        if (p.scale > ceiling) {
          ceiling = p.scale;
          failedProbes = 0;
        }
      }
      if (scale > ceiling && since >= settledMs) {
        ceiling = scale;
        failedProbes = 0;
      }
      if (scale >= maxScale) return;
      // Below the learned ceiling, climb back every quiet period; above it, each failed probe doubles the wait.
      const above = scale + step > ceiling + 1e-9;
      if (since < (above ? (failedProbes > 1 ? settledMs : quietMs) * 2 ** failedProbes : quietMs)) return;
      lastIncreaseAt = now;
      if (!limited) return;
      limited = false;
      stats.increases++;
      pending = undefined; // a measurement older than a quiet period must not undo a probe
      apply(scale + step);
      probes.push({ at: now, scale });
      step = Math.min(maxStep, step * 2);
    },
    state: () => ({
      scale,
      maxScale,
      pauseUntil,
      consecutive,
      lastEventAt: Number.isFinite(lastEventAt) ? lastEventAt : 0,
      ceiling,
      failedProbes,
    }),
    restore(s) {
      if (s.maxScale !== undefined && s.maxScale > 0) maxScale = Math.min(1, s.maxScale);
      // What an earlier run learned fades with the time since the server last said no: each longest
      // window without a refusal halves the distance to the configured rate. A run resumed at once
      // keeps it; a later run is not held far below the configured rate by an old refusal (if the
      // server is still that strict, its next refusal measures the level again).
      const age = s.lastEventAt ? Math.max(0, clock.now() - s.lastEventAt) : 0;
      const kept = longestMs > 0 ? 2 ** (-age / longestMs) : 1;
      const relax = (v: number, top: number) => v + (top - v) * (1 - kept);
      if (s.scale !== undefined && s.scale > 0) apply(relax(Math.min(s.scale, maxScale), maxScale));
      if (s.pauseUntil !== undefined) pauseUntil = Math.max(pauseUntil, s.pauseUntil);
      if (s.consecutive !== undefined) consecutive = s.consecutive;
      if (s.lastEventAt) lastEventAt = s.lastEventAt;
      if (s.ceiling !== undefined && s.ceiling > 0) ceiling = relax(Math.min(1, s.ceiling), 1);
      if (s.failedProbes !== undefined && s.failedProbes >= 0) failedProbes = Math.min(MAX_PROBE_BACKOFF_EXP, Math.floor(s.failedProbes));
    },
    stats: () => ({ ...stats }),
  };
}
