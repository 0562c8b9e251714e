/**
 * The gate every send passes: a concurrency slot (p-queue), then the start
 * admission (every quota window + the adaptive pause), in FIFO order.
 *
 * - `run(task)` holds one of `concurrency` slots while the task runs; tasks
 *   wait their turn in p-queue, first come first served. The signal only
 *   drops a task still waiting: once it runs, its request may be on the
 *   wire, and its outcome must reach the engine.
 * - Inside a slot, `acquire()` resolves when a send may start and records the
 *   start. Waiters are served in order; `front: true` (a request that just got
 *   a 429 or a 401) goes ahead of everyone. One timer at most, no polling.
 * - `ready()` is the engine's backpressure: it resolves once fewer than
 *   `maxQueued` tasks wait for a slot, so pending items stay in the store.
 * - `observe()` reports each send's outcome: an answer settles its slot (it
 *   counts until the answer + the window), a 429 releases it (the server did
 *   not count it), and either may let waiters in at once.
 *
 * One gate per workspace per process (`workspaceGate`): every job of a run
 * shares it, because the quota is the workspace's.
 */
import PQueue from 'p-queue';
import type { Clock } from '../clock.js';
import { type AdaptiveRate, type AdaptiveState, type ResponseSignal, createAdaptiveRate } from './adaptive-rate.js';
import type { BackoffOptions } from './backoff.js';
import { type WindowLimiter, createWindowLimiter } from './window-limiter.js';
import type { RateWindow } from '../types.js';
import { LiteSignal } from '../lite-signal.js';

export interface GateOptions {
  windows: readonly RateWindow[];
  concurrency: number;
  clock: Clock;
  /** Tasks allowed to wait for a slot before ready() holds the producer; default 2 x concurrency. */
  maxQueued?: number;
  random?: () => number;
  /** Pause after a 429 without Retry-After (default 1 s .. 60 s). */
  rateLimitBackoff?: BackoffOptions;
  /** Window widening for clock granularity; default defaultSafetyMarginMs(windows). */
  safetyMarginMs?: number;
  /** A send never reported back stops holding its slot after this long; default 120 s (above any --timeout). */
  inFlightBoundMs?: number;
  /** Pace starts evenly once the adaptive layer lowered the rate; default true. */
  pace?: boolean;
  quietMs?: number;
  /** Restored state of an earlier run: send times of the longest window, adaptive state. */
  restore?: GateState;
}

export interface GateState {
  /** The time each send still holding a slot counts from (its answer; in-flight ones as of the snapshot). */
  sends: number[];
  adaptive?: AdaptiveState;
}

export interface GateStats {
  /** Starts admitted. */
  admitted: number;
  /** Admissions that had to wait (for a window or a pause). */
  waited: number;
  queued: number;
  running: number;
  waiting: number;
  scale: number;
  pauseMs: number;
}

export interface Gate {
  readonly limiter: WindowLimiter;
  readonly adaptive: AdaptiveRate;
  /** Runs `task` in a concurrency slot, FIFO. Rejects with the signal's reason if aborted while queued. */
  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Resolves when a send may start now; the start is recorded (`seq` names it for observe). */
  acquire(signal?: AbortSignal, opts?: { front?: boolean }): Promise<Ticket>;
  /**
   * acquire() without the wait: the ticket when nobody waits and a send may
   * start now (the start is recorded), else undefined and nothing changes.
   */
  tryAcquire(): Ticket | undefined;
  /** Feeds a response (or network error: no status) to the limiter and the adaptive layer. */
  observe(r: ResponseSignal): void;
  /** An admitted start that never went on the wire (the token could not be had, the run stopped): frees its slot. */
  cancel(ticket: Ticket): void;
  /** Backpressure: resolves when fewer than maxQueued tasks wait for a slot. */
  ready(signal?: AbortSignal): Promise<void>;
  /** Resolves when every task has finished. */
  idle(): Promise<void>;
  stats(): GateStats;
  snapshot(): GateState;
  /** Rejects every waiter and stops the timer. */
  close(): void;
}

export interface Ticket {
  startedAt: number;
  /** The limiter's sequence number of this start (0 when no window is configured). */
  seq: number;
}

interface Waiter {
  resolve(t: Ticket): void;
  reject(reason: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
  /** Set when pump() admitted it. */
  admitted?: boolean;
}

export function createGate(opts: GateOptions): Gate {
  const { clock } = opts;
  if (!(Number.isInteger(opts.concurrency) && opts.concurrency >= 1)) {
    throw new RangeError(`Expected the concurrency to be a whole number >= 1, got ${opts.concurrency}.`);
  }
  const limiter = createWindowLimiter(opts.windows, clock, {
    ...(opts.safetyMarginMs !== undefined ? { safetyMarginMs: opts.safetyMarginMs } : {}),
    ...(opts.inFlightBoundMs !== undefined ? { inFlightBoundMs: opts.inFlightBoundMs } : {}),
    ...(opts.pace !== undefined ? { pace: opts.pace } : {}),
  });
  const adaptive = createAdaptiveRate({
    limiter,
    clock,
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.rateLimitBackoff ? { backoff: opts.rateLimitBackoff } : {}),
    ...(opts.quietMs !== undefined ? { quietMs: opts.quietMs } : {}),
  });
  if (opts.restore) {
    limiter.restore(opts.restore.sends);
    if (opts.restore.adaptive) adaptive.restore(opts.restore.adaptive);
  }
  const queue = new PQueue({ concurrency: opts.concurrency });
  const maxQueued = opts.maxQueued ?? opts.concurrency * 2;
  const waiters: Waiter[] = [];
  let timer: AbortController | undefined;
  let timerAt = Infinity;
  let closed = false;
  let admitted = 0;
  let waited = 0;

  function detach(w: Waiter): void {
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
  }

  /** Admits as many waiters as may start now; arms one timer for the rest. */
  function pump(): void {
    while (waiters.length > 0) {
      adaptive.tick();
      const paused = adaptive.pauseRemaining();
      // wait > 0: the limiter or the pause holds everyone (FIFO); the timer
      // re-checks when time alone changes the answer, observe() on each response.
      const wait = paused > 0 ? paused : limiter.reserve();
      if (wait > 0) {
        if (paused === 0) adaptive.noteLimited();
        arm(wait);
        return;
      }
      const w = waiters.shift()!;
      detach(w);
      admitted++;
      w.resolve({ startedAt: clock.now(), seq: limiter.lastSeq });
    }
  }

  function arm(ms: number): void {
    const at = clock.now() + ms;
    if (timer && timerAt <= at) return;
    timer?.abort();
    const ctl = new AbortController();
    timer = ctl;
    timerAt = at;
    clock.sleep(ms, ctl.signal).then(
      () => {
        if (timer !== ctl) return;
        timer = undefined;
        timerAt = Infinity;
        pump();
      },
      () => {},
    );
  }

  // The tasks waiting for a slot, per caller signal: one abort listener per signal, not one per task.
  const waitingBy = new WeakMap<AbortSignal, Set<SlotSignal>>();
  const waitingOn = (signal: AbortSignal): Set<SlotSignal> => {
    let set = waitingBy.get(signal);
    if (!set) {
      const waiting = new Set<SlotSignal>();
      waitingBy.set(signal, waiting);
      signal.addEventListener(
        'abort',
        () => {
          const list = [...waiting];
          waiting.clear();
          // Every one is aborted before any listener runs: a slot freed by the first cannot start a later one.
          for (const w of list) w.mark(signal.reason);
          for (const w of list) w.fire();
        },
        { once: true },
      );
      set = waiting;
    }
    return set;
  };

  return {
    limiter,
    adaptive,
    run(task, signal) {
      if (!signal) return queue.add(task) as Promise<Awaited<ReturnType<typeof task>>>;
      if (signal.aborted) return Promise.reject(signal.reason);
      // p-queue rejects a running task too when its signal aborts; hand it a signal that
      // aborts only while the task waits for its slot.
      const waiting = waitingOn(signal);
      const slot = new SlotSignal();
      waiting.add(slot);
      return queue.add(
        () => {
          waiting.delete(slot);
          return task();
        },
        { signal: slot as unknown as AbortSignal },
      ) as Promise<Awaited<ReturnType<typeof task>>>;
    },
    acquire(signal, o = {}) {
      if (closed) return Promise.reject(new Error('The rate gate is closed: the run is shutting down.'));
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<Ticket>((resolve, reject) => {
        const w: Waiter = {
          resolve(t) {
            w.admitted = true;
            resolve(t);
          },
          reject,
        };
        if (o.front) waiters.unshift(w);
        else waiters.push(w);
        if (!timer) pump();
        if (w.admitted) return; // admitted at once (the common case): no abort listener needed
        waited++;
        if (signal) {
          w.signal = signal;
          w.onAbort = () => {
            const i = waiters.indexOf(w);
            if (i >= 0) waiters.splice(i, 1);
            reject(signal.reason);
          };
          signal.addEventListener('abort', w.onAbort, { once: true });
        }
      });
    },
    tryAcquire() {
      if (closed || waiters.length > 0 || timer) return undefined;
      adaptive.tick();
      // A wait leaves everything as it was: acquire() queues the send and arms the timer.
      if (adaptive.pauseRemaining() > 0 || limiter.reserve() > 0) return undefined;
      admitted++;
      return { startedAt: clock.now(), seq: limiter.lastSeq };
    },
    observe(r) {
      // The server counted the request no later than its answer, and a 429 not
      // at all. A network error: it may have arrived; it counts until now.
      if (r.seq !== undefined) {
        if (r.status === 429) limiter.release(r.seq);
        else limiter.settle(r.seq, clock.now());
      }
      adaptive.onResponse(r);
      // A freed slot or an ended pause may let waiters in now; a longer pause
      // or a lower scale only delays them (the armed timer fires and re-arms).
      if (waiters.length && !closed) pump();
    },
    cancel(t) {
      limiter.release(t.seq);
      if (waiters.length && !closed) pump();
    },
    async ready(signal) {
      if (queue.size < maxQueued) return;
      await queue.onSizeLessThan(maxQueued);
      signal?.throwIfAborted();
    },
    idle: () => queue.onIdle(),
    stats: () => ({
      admitted,
      waited,
      queued: queue.size,
      running: queue.pending,
      waiting: waiters.length,
      scale: adaptive.scale,
      pauseMs: adaptive.pauseRemaining(),
    }),
    snapshot: () => ({ sends: limiter.snapshot(), adaptive: adaptive.state() }),
    close() {
      closed = true;
      timer?.abort();
      timer = undefined;
      queue.clear();
      for (const w of waiters.splice(0)) {
        detach(w);
        w.reject(new Error('The rate gate closed while this send waited for its turn: the run is shutting down.'));
      }
    },
  };
}

/**
 * The signal p-queue holds for a task waiting for its slot (see LiteSignal):
 * the gate aborts it from the caller's signal while the task waits, never once
 * it runs. p-queue reads `aborted`, `reason`, `throwIfAborted` and the
 * 'abort' listeners of a task's signal (checked by test/unit/limits-gate.test.ts).
 */
class SlotSignal extends LiteSignal {}

const registry = new Map<string, Gate>();

/**
 * The one gate of a workspace in this process, created on first use. The key
 * is the workspace's identity (the API origin); later callers share the first
 * caller's windows and concurrency.
 */
export function workspaceGate(key: string, create: () => Gate): Gate {
  let g = registry.get(key);
  if (!g) {
    g = create();
    registry.set(key, g);
  }
  return g;
}

/** Forgets (and closes) a workspace's gate: at the end of a run, or between tests. */
export function releaseWorkspaceGate(key: string): void {
  registry.get(key)?.close();
  registry.delete(key);
}
