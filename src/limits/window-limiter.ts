/**
 * The sliding multi-window limiter: "at most N sends in any W ms", for every
 * configured window at once. Pure: time comes from the injected clock,
 * nothing sleeps here (the gate owns the one timer).
 *
 * When does a send stop counting? The server counts a request when it
 * *arrives*, at some moment between our start and the response. A start time
 * says nothing reliable about the arrival: a new connection's TLS handshake,
 * a busy event loop or a slow network can hold one request back while later
 * ones overtake it, and the server's window then slides differently from
 * ours (the one 429 a start-time limiter causes "with known limits"). The one
 * bound the client can be sure of is the response: the server counted the
 * request no later than it answered. So each send holds its slot in every
 * window
 *
 *   - from its start while it is in flight (its arrival is still to come),
 *   - until `response time + W + margin` once answered,
 *   - not at all once the server refused it with a 429 (the API documents that
 *     a rejected request does not count against the quota),
 *   - until `error time + W + margin` after a network error (it may have
 *     arrived), and at most until `start + inFlightBoundMs` if nobody ever
 *     reports back (a hung or forgotten request cannot hold the quota).
 *
 * Why that is enough for zero 429s: take any set S of requests the server
 * counted inside one window (a - W, a], and k the one of them we admitted
 * last, at s_k <= a_k <= a. Every other i in S has a_i > a - W, and its slot
 * stays taken until at least a_i + W > a >= s_k (or it was still in flight).
 * So when k was admitted all of S \ {k} held slots, and the check admitted k
 * only if they were fewer than N: |S| <= N. No assumption on delays; the
 * margin only absorbs clock granularity (Date.now() truncates to the ms).
 *
 * The price is one response time per window cycle (a slot frees a latency
 * later than its start would say): 20 ms in a 1 s compressed window, well
 * under 1% in the documented 10 s / 60 s windows.
 *
 * The adaptive layer may lower the effective quota with `setScale(f)`: each
 * window then admits floor(N * f) (at least 1), and starts are *paced*: at
 * least max(W / floor(N * f)) apart, the slowest window's average, instead
 * of bursting into each slot the moment it frees. A scaled quota means the
 * server is stricter than told or shared: bursting into freed slots wins
 * every race against a client that shares the quota (it gets the 429s, we
 * never learn that we take its part), while evenly paced starts meet the
 * server's limit as a fair competitor and get their share of the refusals.
 * At scale 1 (the limits are known) nothing is paced: bursts up to each
 * window's count go out at once.
 *
 * Cost: O(1) amortized per reserve/settle/release and per window (settled
 * slot-free times arrive in clock order, so they form a sorted queue).
 */
import type { Clock } from '../clock.js';
import type { RateWindow } from '../types.js';

export interface WindowLimiter {
  /** The configured windows (never changed by scaling). */
  readonly windows: readonly RateWindow[];
  /**
   * Ms to wait before a send may start; 0 means it may start now and has been
   * recorded as in flight (`lastSeq` names it). A positive wait is the next
   * moment the answer can change by time alone; a response (settle/release)
   * can free a slot sooner.
   */
  reserve(): number;
  /** Like reserve() but records nothing. */
  peek(): number;
  /** Records a send that is already answered, counted from `at` (restored history, or a send that bypassed the limiter). */
  record(at?: number): void;
  /** Sequence number of the last recorded send (1 for the first). */
  readonly lastSeq: number;
  /**
   * Send `seq` was answered (or failed) at `at` (default now): the server
   * counted it no later, so its slot frees at `at + W + margin`. No effect on
   * a send already settled or released.
   */
  settle(seq: number, at?: number): void;
  /** The server refused send `seq` (429), or it never went on the wire: it frees its slot now. */
  release(seq: number): void;
  /** Sends admitted and not yet answered. */
  readonly inFlight: number;
  /** Sequence number of the oldest send still in flight, or undefined. */
  oldestInFlight(): number | undefined;
  /**
   * What the server had counted in the window (at - windowMs, at] when it
   * refused send `beforeSeq` at `at`: the sends not refused whose estimated
   * arrival, max(start, answer - lagMs), falls inside it. Sends that started
   * before the refused one count as arrived before it (still in flight
   * included); later ones only if their estimate says so. `lagMs` is the
   * server's own answer time (the fastest round trip seen): a send held up on
   * the way (a TLS handshake, a busy loop) arrived late and counts late.
   */
  countedIn(at: number, windowMs: number, lagMs: number, beforeSeq: number): number;
  /** The effective quota fraction in (0, 1]. */
  readonly scale: number;
  setScale(fraction: number): void;
  /** Effective count of each window (floor(N * scale), at least 1), in `windows` order. */
  effectiveCounts(): number[];
  /**
   * The times from which each send still holding a slot of the longest window
   * counts, oldest first (in-flight sends as now): what a resumed run must respect.
   */
  snapshot(): number[];
  /** Records the given times as answered sends (any order); those older than the longest window are ignored. */
  restore(timestamps: readonly number[]): void;
  /** Ms added to every window (clock granularity). */
  readonly safetyMarginMs: number;
  setSafetyMargin(ms: number): void;
}

export interface WindowLimiterOptions {
  /** Added to every window's length; default defaultSafetyMarginMs(windows). */
  safetyMarginMs?: number;
  /** A send nobody reports back on stops counting as in flight after this long; default 120 s. */
  inFlightBoundMs?: number;
  /** Pace starts evenly while the scale is below 1 (see the module comment); default true. */
  pace?: boolean;
}

/**
 * Clock granularity, not latency (latency is covered by counting from the
 * response): 0.2% of the shortest window, between 2 ms and 100 ms.
 */
export function defaultSafetyMarginMs(windows: readonly RateWindow[]): number {
  if (windows.length === 0) return 0;
  const shortest = Math.min(...windows.map((w) => w.windowMs));
  return Math.min(100, Math.max(2, Math.round(shortest * 0.002)));
}

export const DEFAULT_IN_FLIGHT_BOUND_MS = 120_000;

const IN_FLIGHT = 0;
const SETTLED = 1;
const RELEASED = 2;

export function createWindowLimiter(windows: readonly RateWindow[], clock: Pick<Clock, 'now'>, opts: WindowLimiterOptions = {}): WindowLimiter {
  for (const w of windows) {
    if (!(Number.isInteger(w.count) && w.count >= 1 && w.windowMs > 0)) {
      throw new RangeError(`Expected every window to allow a whole number >= 1 of requests in more than 0 ms, got ${w.count}/${w.windowMs}ms.`);
    }
  }
  let margin = Math.ceil(opts.safetyMarginMs ?? defaultSafetyMarginMs(windows));
  const bound = opts.inFlightBoundMs ?? DEFAULT_IN_FLIGHT_BOUND_MS;
  const pace = opts.pace ?? true;
  const longestMs = windows.reduce((m, w) => Math.max(m, w.windowMs), 0);
  let scale = 1;
  /** Paced (scale < 1): the earliest next start, on a schedule so timer lateness does not add up. */
  let paceAt = Number.NEGATIVE_INFINITY;
  const spacing = (): number => {
    let ms = 0;
    for (const w of windows) ms = Math.max(ms, (w.windowMs + margin) / effective(w.count));
    return ms;
  };

  // Every send by sequence number: its start and state. Index = seq - firstSeq.
  let starts: number[] = [];
  let states: number[] = [];
  /** Answer times (NaN while in flight or released). */
  let answers: number[] = [];
  let firstSeq = 1;
  let seq = 0;
  let inFlight = 0;
  /** Index (into starts/states) at or before the oldest in-flight send. */
  let flightPtr = 0;
  /** Leading records older than two longest windows (at most flightPtr): dropped in bulk once they are many. */
  let stale = 0;

  // The slot-free base times (response times) of settled sends, ascending;
  // `head` entries at the front are dead for every window.
  let leaves: number[] = [];
  let head = 0;
  /** Per window: index of the first entry of `leaves` still inside it. */
  const live = windows.map(() => 0);

  const effective = (count: number): number => Math.max(1, Math.floor(count * scale + 1e-9));

  function insertLeave(t: number): void {
    if (leaves.length === head || t >= leaves[leaves.length - 1]!) {
      leaves.push(t);
      return;
    }
    // Out of order (a restored or bounded time): binary search, rare.
    let lo = head;
    let hi = leaves.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (leaves[mid]! <= t) lo = mid + 1;
      else hi = mid;
    }
    leaves.splice(lo, 0, t);
    // A window whose first live entry came after `lo` had leaves[lo..] dead,
    // so t (smaller) is dead for it too: keep pointing at the same entry.
    for (let i = 0; i < live.length; i++) if (live[i]! > lo) live[i]!++;
  }

  function settleIndex(i: number, at: number): void {
    states[i] = SETTLED;
    answers[i] = at;
    inFlight--;
    insertLeave(at);
  }

  /** Moves time forward: sends past the in-flight bound count as answered at start + bound; dead entries go. */
  function advance(now: number): void {
    while (flightPtr < states.length && states[flightPtr] !== IN_FLIGHT) flightPtr++;
    while (inFlight > 0 && flightPtr < states.length && starts[flightPtr]! + bound <= now) {
      settleIndex(flightPtr, starts[flightPtr]! + bound);
      while (flightPtr < states.length && states[flightPtr] !== IN_FLIGHT) flightPtr++;
    }
    for (let k = 0; k < windows.length; k++) {
      const span = windows[k]!.windowMs + margin;
      let i = live[k]!;
      while (i < leaves.length && leaves[i]! + span <= now) i++;
      live[k] = i;
    }
    // Entries dead for the longest window are dead for all.
    let dead = leaves.length;
    for (let k = 0; k < live.length; k++) if (live[k]! < dead) dead = live[k]!;
    if (dead > head) head = dead;
    if (head > 1024 && head > leaves.length / 2) {
      leaves = leaves.slice(head);
      for (let k = 0; k < live.length; k++) live[k]! -= head;
      head = 0;
    }
    // Send records: keep two longest windows of history for countedIn. The stale prefix only grows
    // between compactions, so it is extended from where it stopped: rescanning it on every call
    // cost O(sends in two windows) per admission.
    const keepFrom = now - 2 * (longestMs + margin);
    while (stale < flightPtr && starts[stale]! < keepFrom) stale++;
    if (stale > 1024 && stale > starts.length / 2) {
      starts = starts.slice(stale);
      states = states.slice(stale);
      answers = answers.slice(stale);
      firstSeq += stale;
      flightPtr -= stale;
      stale = 0;
    }
  }

  function waitAt(now: number): number {
    advance(now);
    let wait = 0;
    for (let k = 0; k < windows.length; k++) {
      const w = windows[k]!;
      const n = effective(w.count);
      const settledLive = leaves.length - live[k]!;
      const held = settledLive + inFlight;
      if (held < n) continue;
      const mustLeave = held - n + 1;
      let freeAt: number;
      if (mustLeave <= settledLive) freeAt = leaves[live[k]! + mustLeave - 1]! + w.windowMs + margin;
      // Only in-flight sends can make room: their responses will (the gate
      // re-checks on each); by time alone, the oldest reaches its bound.
      else freeAt = starts[flightPtr]! + bound;
      wait = Math.max(wait, freeAt - now);
    }
    if (pace && scale < 1) wait = Math.max(wait, paceAt - now);
    return wait > 0 ? Math.max(1, Math.ceil(wait)) : 0;
  }

  function push(at: number, state: number): void {
    seq++;
    starts.push(at);
    states.push(state);
    answers.push(state === SETTLED ? at : Number.NaN);
    if (state === IN_FLIGHT) inFlight++;
  }

  const indexOf = (s: number): number => (Number.isInteger(s) && s >= firstSeq && s <= seq ? s - firstSeq : -1);

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
      if (wait === 0) {
        push(now, IN_FLIGHT);
        // One slot on a fixed schedule; after idling, at most one start of catch-up.
        const gap = spacing();
        paceAt = Math.max(paceAt, now - gap) + gap;
      }
      return wait;
    },
    peek: () => waitAt(clock.now()),
    record(at = clock.now()) {
      push(at, SETTLED);
      insertLeave(at);
    },
    get lastSeq() {
      return seq;
    },
    get inFlight() {
      return inFlight;
    },
    settle(which, at = clock.now()) {
      const i = indexOf(which);
      if (i < 0 || states[i] !== IN_FLIGHT) return;
      settleIndex(i, Math.max(at, starts[i]!));
    },
    release(which) {
      const i = indexOf(which);
      if (i < 0 || states[i] !== IN_FLIGHT) return;
      states[i] = RELEASED;
      inFlight--;
    },
    oldestInFlight() {
      if (inFlight === 0) return undefined;
      while (flightPtr < states.length && states[flightPtr] !== IN_FLIGHT) flightPtr++;
      return flightPtr < states.length ? flightPtr + firstSeq : undefined;
    },
    countedIn(at, windowMs, lagMs, beforeSeq) {
      const since = at - windowMs;
      let n = 0;
      // Scanning back from the newest send: once a start is a whole in-flight
      // bound older than the window, nothing earlier can have arrived inside it.
      for (let j = starts.length - 1; j >= 0 && starts[j]! > since - bound; j--) {
        const state = states[j];
        if (state === RELEASED) continue;
        const earlier = j + firstSeq < beforeSeq;
        if (state === IN_FLIGHT) {
          if (earlier) n++;
          continue;
        }
        const arrived = Math.max(starts[j]!, answers[j]! - lagMs);
        if (arrived > since && (earlier || arrived <= at)) n++;
      }
      return n;
    },
    setScale(fraction) {
      if (!(fraction > 0)) throw new RangeError(`Expected a rate fraction above 0, got ${fraction}.`);
      scale = Math.min(1, fraction);
    },
    effectiveCounts: () => windows.map((w) => effective(w.count)),
    snapshot() {
      const now = clock.now();
      advance(now);
      const since = now - longestMs - margin;
      const out: number[] = [];
      for (let i = head; i < leaves.length; i++) if (leaves[i]! > since) out.push(leaves[i]!);
      for (let i = 0; i < inFlight; i++) out.push(now);
      return out;
    },
    restore(timestamps) {
      const since = clock.now() - longestMs - margin;
      const list = timestamps.filter((t) => Number.isFinite(t) && t > since).sort((a, b) => a - b);
      for (const t of list) {
        push(t, SETTLED);
        insertLeave(t);
      }
    },
  };
}
