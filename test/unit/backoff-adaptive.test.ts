import { describe, expect, it } from 'vitest';
import { createAdaptiveRate } from '../../src/limits/adaptive-rate.js';
import { RATE_LIMIT_BACKOFF, RETRY_AFTER_FLOOR_MS, backoffDelay, retryDelay, scaleBackoff } from '../../src/limits/backoff.js';
import { createWindowLimiter } from '../../src/limits/window-limiter.js';

function clockAt(start = 1_000_000) {
  let t = start;
  return { now: () => t, set: (v: number) => (t = v), add: (ms: number) => (t += ms) };
}

describe('backoff maths (pure)', () => {
  const opts = { baseMs: 1000, capMs: 60_000 };
  it('full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]', () => {
    expect(backoffDelay(1, 0, opts)).toBe(0);
    expect(backoffDelay(1, 0.999999, opts)).toBe(1000);
    expect(backoffDelay(3, 0.5, opts)).toBe(2000);
    expect(backoffDelay(4, 1, opts)).toBe(8000);
    expect(backoffDelay(30, 1, opts)).toBe(60_000);
    expect(backoffDelay(10_000, 1, opts)).toBe(60_000);
  });
  it('a floor raises the bottom of the range (429 pauses: 1 s up to 60 s)', () => {
    expect(backoffDelay(1, 0, RATE_LIMIT_BACKOFF)).toBe(1000);
    expect(backoffDelay(1, 1, RATE_LIMIT_BACKOFF)).toBe(1000);
    expect(backoffDelay(2, 0.5, RATE_LIMIT_BACKOFF)).toBe(1500);
    expect(backoffDelay(12, 1, RATE_LIMIT_BACKOFF)).toBe(60_000);
    for (let a = 1; a < 20; a++) {
      const d = backoffDelay(a, Math.random(), RATE_LIMIT_BACKOFF);
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(60_000);
    }
  });
  it('Retry-After wins over the computed delay; 0 becomes a short floor', () => {
    expect(retryDelay(1, 1, opts, 7000)).toBe(7000);
    expect(retryDelay(9, 1, opts, 120_000)).toBe(120_000);
    expect(retryDelay(1, 1, opts, 0)).toBe(RETRY_AFTER_FLOOR_MS);
    expect(retryDelay(2, 0.5, opts, undefined)).toBe(1000);
    expect(retryDelay(2, 0.5, opts, Number.NaN)).toBe(1000);
  });
  it('scales a policy for time-compressed runs', () => {
    expect(scaleBackoff(RATE_LIMIT_BACKOFF, 0.1)).toEqual({ baseMs: 100, capMs: 6000, floorMs: 100 });
  });
});

describe('adaptive rate (fake clock)', () => {
  const windows = [
    { count: 100, windowMs: 10_000 },
    { count: 20, windowMs: 1000 },
  ];
  function setup(random = () => 0.5, o: { quietMs?: number } = {}) {
    const c = clockAt(0);
    // Unpaced, so a test can model a burst at one instant at any scale (pacing is tested in limits-window).
    const limiter = createWindowLimiter(windows, c, { safetyMarginMs: 0, pace: false });
    const a = createAdaptiveRate({ limiter, clock: c, random, ...o });
    /** One send through limiter and adaptive layer, as the gate does: start now, answered `latency` later. */
    const start = () => {
      expect(limiter.reserve()).toBe(0);
      return { seq: limiter.lastSeq, startedAt: c.now() };
    };
    const answer = (t: { seq: number; startedAt: number }, status: number, extra: { retryAfterMs?: number } = {}) => {
      if (status === 429) limiter.release(t.seq);
      else limiter.settle(t.seq);
      return a.onResponse({ ...t, status, ...extra });
    };
    return { c, limiter, a, start, answer };
  }

  it('a 429 with Retry-After pauses every send for exactly that long', () => {
    const { c, a } = setup();
    expect(a.onResponse({ startedAt: 0, status: 429, retryAfterMs: 3000 })).toBe(3000);
    c.add(1000);
    expect(a.pauseRemaining()).toBe(2000);
    c.add(2000);
    expect(a.pauseRemaining()).toBe(0);
  });

  it('Retry-After 0 becomes a short floor, not a hot loop', () => {
    const { a } = setup();
    expect(a.onResponse({ startedAt: 0, status: 429, retryAfterMs: 0 })).toBe(RETRY_AFTER_FLOOR_MS);
  });

  it('no Retry-After: exponential backoff with full jitter from 1 s, growing with consecutive 429s, reset by a success', () => {
    const { c, a } = setup(() => 1);
    expect(a.onResponse({ startedAt: 0, status: 429 })).toBe(1000);
    c.add(1000);
    expect(a.onResponse({ startedAt: c.now(), status: 429 })).toBe(2000);
    c.add(2000);
    expect(a.onResponse({ startedAt: c.now(), status: 429 })).toBe(4000);
    c.add(4000);
    a.onResponse({ startedAt: c.now(), status: 201 });
    c.add(10);
    expect(a.onResponse({ startedAt: c.now(), status: 429 })).toBe(1000);
  });

  it('learns the real quota from what was flowing, in-flight sends included, then ignores echoes of the same overload', () => {
    const { c, a, limiter, start, answer } = setup();
    // The server's real burst quota is 10 per second (half of ours). Ten sends
    // go out; only four are answered when the eleventh comes back 429.
    const sent = Array.from({ length: 12 }, () => {
      const t = start();
      c.add(5);
      return t;
    });
    c.add(20);
    for (const t of sent.slice(0, 4)) answer(t, 201);
    answer(sent[10]!, 429);
    // 10 of 20 counted (4 answered + 6 still in flight that set out earlier): exactly half.
    expect(a.scale).toBeCloseTo(0.5, 9);
    expect(limiter.scale).toBe(a.scale);
    expect(a.ceiling).toBeCloseTo(0.5, 9);
    // In-flight sends that started before the reaction come back 429 too: no second cut.
    answer(sent[11]!, 429);
    for (const t of sent.slice(4, 10)) answer(t, 201);
    expect(a.scale).toBeCloseTo(0.5, 9);
    expect(a.stats()).toMatchObject({ events: 1, decreases: 1 });
  });

  it('once every earlier send is back, measures again without the ones refused as well (a lower rate only)', () => {
    const { c, a, start, answer } = setup();
    const sent = Array.from({ length: 12 }, () => {
      const t = start();
      c.add(5);
      return t;
    });
    c.add(20);
    for (const t of sent.slice(0, 8)) answer(t, 201);
    answer(sent[10]!, 429); // provisional: 8 answered + 2 in flight = 10 of 20
    expect(a.scale).toBeCloseTo(0.5, 9);
    answer(sent[8]!, 429); // an echo: it was refused too
    expect(a.scale).toBeCloseTo(0.5, 9); // sent[9] still out
    answer(sent[9]!, 201);
    // Final: 9 counted of 20.
    expect(a.scale).toBeCloseTo(0.45, 9);
  });

  it('counts a send by its estimated arrival (answer - fastest round trip), not its start', () => {
    const { c, a, start, answer } = setup();
    // Fast sends teach the round trip: 20 ms.
    for (let i = 0; i < 3; i++) {
      const t = start();
      c.add(20);
      answer(t, 200);
    }
    c.set(5000);
    // Eight sends held up on the way (a slow handshake) for 1.5 s; started at 5000, answered at 6520.
    const slow = Array.from({ length: 8 }, () => start());
    c.set(6000);
    const quick = Array.from({ length: 4 }, () => start());
    c.set(6020);
    for (const t of quick.slice(0, 3)) answer(t, 200);
    c.set(6520);
    for (const t of slow) answer(t, 200);
    c.set(6530);
    answer(quick[3]!, 429); // the server has 11 in its last second: 8 arrived ~6500 + 3 quick ones
    expect(a.scale).toBeCloseTo(11 / 20, 9);
  });

  it('a 429 that teaches nothing soon after the last one cuts multiplicatively, harder each time', () => {
    const { c, a } = setup(() => 0.5, { quietMs: 10_000 });
    // Nothing measurable (no sequence numbers): 3%, then 3%, 6%, 12% as it repeats within a quiet period.
    a.onResponse({ startedAt: 0, status: 429 });
    expect(a.scale).toBeCloseTo(0.97, 9);
    c.add(1000);
    a.onResponse({ startedAt: c.now(), status: 429 });
    expect(a.scale).toBeCloseTo(0.97 * 0.97, 9);
    c.add(1000);
    a.onResponse({ startedAt: c.now(), status: 429 });
    expect(a.scale).toBeCloseTo(0.97 * 0.97 * 0.94, 9);
    c.add(1000);
    a.onResponse({ startedAt: c.now(), status: 429 });
    expect(a.scale).toBeCloseTo(0.97 * 0.97 * 0.94 * 0.88, 9);
    // After a quiet period, a lone 429 is back to the small cut.
    c.add(20_000);
    const before = a.scale;
    a.onResponse({ startedAt: c.now(), status: 429 });
    expect(a.scale).toBeCloseTo(before * 0.97, 9);
  });

  it('probes upward after a quiet period in which the limiter was the bottleneck; the step doubles with each probe that passes; never above 1', () => {
    const { c, a, start, answer } = setup();
    const sent = Array.from({ length: 11 }, () => start());
    for (const t of sent.slice(0, 10)) answer(t, 201);
    answer(sent[10]!, 429);
    expect(a.scale).toBeCloseTo(0.5, 9);
    c.add(10_000);
    a.tick();
    expect(a.scale).toBeCloseTo(0.5, 9); // quiet, but demand never hit the limiter
    c.add(10_000);
    a.noteLimited();
    a.tick();
    expect(a.scale).toBeCloseTo(0.5 + 1 / 20, 9); // one request of the smallest window
    a.noteLimited();
    a.tick();
    expect(a.scale).toBeCloseTo(0.55, 9); // not twice in one quiet period
    c.add(10_000);
    a.noteLimited();
    a.tick();
    expect(a.scale).toBeCloseTo(0.55 + 2 / 20, 9);
    expect(a.ceiling).toBeCloseTo(0.55, 9); // the passed probe is now known ground
    for (let i = 0; i < 10; i++) {
      c.add(10_000);
      a.noteLimited();
      a.tick();
    }
    expect(a.scale).toBe(1);
  });

  it('a probe that fails where the last one failed doubles the quiet period before the next (up to 8x)', () => {
    const { c, a, limiter, start, answer } = setup(() => 0.5, { quietMs: 10_000 });
    const fill = (n: number) => {
      const ts = Array.from({ length: n + 1 }, () => start());
      for (const t of ts.slice(0, n)) answer(t, 201);
      answer(ts[n]!, 429); // the server takes n per second, and no more
    };
    fill(10);
    expect(a.scale).toBeCloseTo(0.5, 9);
    const probeAfter = (): number => {
      // Advance in 1 s steps until the next probe raises the scale; returns the wait.
      const from = c.now();
      const was = a.scale;
      while (a.scale === was) {
        c.add(1000);
        a.noteLimited();
        a.tick();
        if (c.now() - from > 200_000) throw new Error('no probe');
      }
      return c.now() - from;
    };
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      waits.push(probeAfter());
      expect(a.scale).toBeCloseTo(0.55, 9);
      c.add(1000); // let the 1 s window empty, then the server says no at 10 again
      fill(10);
      expect(a.scale).toBeCloseTo(0.5, 9);
      expect(limiter.scale).toBe(a.scale);
    }
    // A measured level: two quiet periods before the first probe; then doubling with each failure.
    expect(waits).toEqual([20_000, 40_000, 80_000, 80_000, 80_000]);
    expect(a.stats().failedProbes).toBe(5);
    // A probe that passes resets the backoff.
    waits.length = 0;
    probeAfter();
    c.add(10_000);
    a.noteLimited();
    a.tick();
    expect(a.scale).toBeCloseTo(0.65, 9);
    expect(a.state().failedProbes).toBe(0);
  });

  it('RateLimit headers: a stricter announced policy caps the rate; remaining 0 pauses until reset', () => {
    const { a } = setup();
    a.onResponse({ startedAt: 0, status: 200, rateLimit: { remaining: 5, resetMs: 900, policies: [{ count: 10, windowMs: 1000 }] } });
    expect(a.scale).toBe(0.5);
    expect(a.pauseRemaining()).toBe(0);
    a.onResponse({ startedAt: 0, status: 200, rateLimit: { remaining: 0, resetMs: 900, policies: [] } });
    expect(a.pauseRemaining()).toBe(900);
  });

  it('nothing lowers the rate without a 429 or a stricter announced policy', () => {
    const { c, a, start, answer } = setup();
    for (let i = 0; i < 200; i++) {
      const t = start();
      c.add(60); // slow answers, 5xx and network errors included
      answer(t, i % 10 === 0 ? 503 : 201);
      c.add(60);
      if (i % 7 === 0) a.onResponse({ startedAt: c.now() });
      a.noteLimited();
      a.tick();
    }
    expect(a.scale).toBe(1);
    expect(a.stats().decreases).toBe(0);
  });

  it('state round-trips for persistence, the learned ceiling and probe backoff included', () => {
    const { c, a, start, answer } = setup();
    const sent = Array.from({ length: 11 }, () => start());
    for (const t of sent.slice(0, 10)) answer(t, 201);
    answer(sent[10]!, 429, { retryAfterMs: 5000 });
    const s = JSON.parse(JSON.stringify(a.state()));
    const other = setup();
    other.c.set(c.now());
    other.a.restore(s);
    expect(other.a.scale).toBe(a.scale);
    expect(other.limiter.scale).toBe(a.scale);
    expect(other.a.ceiling).toBe(a.ceiling);
    expect(other.a.pauseRemaining()).toBe(5000);
  });
});

describe('adaptive rate at the documented windows (600/60s and 150/10s), fake clock', () => {
  const windows = [
    { count: 600, windowMs: 60_000 },
    { count: 150, windowMs: 10_000 },
  ];
  function setup(c = clockAt(0)) {
    const limiter = createWindowLimiter(windows, c, { safetyMarginMs: 0, pace: false });
    const a = createAdaptiveRate({ limiter, clock: c, random: () => 0.5 });
    const start = () => {
      expect(limiter.reserve()).toBe(0);
      return { seq: limiter.lastSeq, startedAt: c.now() };
    };
    const answer = (t: { seq: number; startedAt: number }, status: number) => {
      if (status === 429) limiter.release(t.seq);
      else limiter.settle(t.seq);
      return a.onResponse({ ...t, status, ...(status === 429 ? { retryAfterMs: 1000 } : {}) });
    };
    /** Runs the paced flow for `ms`, in 1 s ticks in which the limiter holds sends back. */
    const quiet = (ms: number) => {
      for (let t = 0; t < ms; t += 1000) {
        c.add(1000);
        a.noteLimited();
        a.tick();
      }
    };
    return { c, limiter, a, start, answer, quiet };
  }

  /** The QA burst: concurrency 8, 20 accepted within 20 ms by a server allowing 20 per second, then 429s. */
  function burstOf20(s: ReturnType<typeof setup>) {
    const { c, start, answer } = s;
    const sent = Array.from({ length: 20 }, () => {
      const t = start();
      c.add(1);
      return t;
    });
    const over = Array.from({ length: 4 }, () => start());
    c.add(5);
    for (const t of sent.slice(0, 14)) answer(t, 201);
    // Sends admitted in the millisecond of the reaction, before the gate heard of the 429.
    const same = Array.from({ length: 4 }, () => start());
    answer(over[0]!, 429); // 20 of 150 in the 10 s window: 0.133
    for (const t of sent.slice(14)) answer(t, 201); // the refinement: all earlier ones are back
    for (const t of [...over.slice(1), ...same]) answer(t, 429);
  }

  it('a burst refused within one second cuts the rate to a quarter at most, its refinement and same-millisecond echoes included', () => {
    const s = setup();
    burstOf20(s);
    // Before: the refinement dropped to 20/150, and the echoes admitted in the reaction's millisecond cut again from there.
    expect(s.a.scale).toBeCloseTo(0.25, 9);
    expect(s.limiter.scale).toBe(s.a.scale);
    expect(s.a.stats()).toMatchObject({ events: 1, decreases: 1 });
  });

  it('climbs back from a burst-learned level after quiet periods of the shortest window, not minutes later', () => {
    const s = setup();
    const sent = Array.from({ length: 51 }, () => s.start());
    s.c.add(5);
    for (const t of sent.slice(0, 50)) s.answer(t, 201);
    s.answer(sent[50]!, 429); // 50 in a burst: a third of the 10 s window
    expect(s.a.scale).toBeCloseTo(1 / 3, 9);
    s.quiet(19_000);
    expect(s.a.scale).toBeCloseTo(1 / 3, 9); // trusted for two quiet periods
    s.quiet(1000);
    expect(s.a.scale).toBeCloseTo(1 / 3 + 1 / 150, 9); // first probe at 20 s (was 120 s)
    s.quiet(60_000);
    // The first probe held a longest window: known ground, and the steps have doubled. Well on the way back.
    expect(s.a.ceiling).toBeCloseTo(1 / 3 + 1 / 150, 9);
    expect(s.a.scale).toBeCloseTo(1 / 3 + 15 / 150, 9);
    s.quiet(30_000);
    expect(s.a.scale).toBe(1); // under 2 minutes after the refusal (8 minutes before)
  });

  it('a level the server confirmed (a probe failed where the last one did) is probed from the longest window: few 429s at a stricter server', () => {
    const s = setup();
    /** The server takes 75 per 10 s (half), and no more: a refusal at 75 counted. */
    const refuseAt75 = () => {
      s.c.add(10_001); // the last burst left the 10 s window
      const ts = Array.from({ length: 76 }, () => s.start());
      for (const t of ts.slice(0, 75)) s.answer(t, 201);
      s.answer(ts[75]!, 429);
    };
    const probeAfter = (): number => {
      const from = s.c.now();
      const was = s.a.scale;
      while (s.a.scale === was) {
        s.quiet(1000);
        if (s.c.now() - from > 2_000_000) throw new Error('no probe');
      }
      return s.c.now() - from;
    };
    refuseAt75();
    expect(s.a.scale).toBeCloseTo(0.5, 9);
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      waits.push(probeAfter());
      refuseAt75();
      expect(s.a.scale).toBeCloseTo(0.5, 9);
    }
    // First probe two short quiet periods after the refusal (20 s); once a probe failed there, 4x then 8x the longest window.
    expect(waits).toEqual([20_000, 240_000, 480_000, 480_000]);
  });

  it('a restored state fades with the time since its last 429: resumed at once it holds, a later run is not pinned', () => {
    const old = setup();
    burstOf20(old);
    const saved = JSON.parse(JSON.stringify(old.a.state()));
    // Resumed right away: the learned level holds.
    const now = setup(clockAt(old.c.now()));
    now.a.restore(saved);
    expect(now.a.scale).toBeCloseTo(old.a.scale, 9);
    // The QA store: 0.1333 learned, a new run one longest window later starts half way back; two later, three quarters.
    const qa = { scale: 0.1333, maxScale: 1, pauseUntil: 0, consecutive: 0, lastEventAt: 1_000_000, ceiling: 0.1333, failedProbes: 1 };
    const later = setup(clockAt(1_060_000));
    later.a.restore(qa);
    expect(later.a.scale).toBeCloseTo(1 - 0.8667 / 2, 9);
    expect(later.limiter.scale).toBe(later.a.scale);
    const muchLater = setup(clockAt(1_120_000));
    muchLater.a.restore(qa);
    expect(muchLater.a.scale).toBeCloseTo(1 - 0.8667 / 4, 9);
    expect(muchLater.a.ceiling).toBeCloseTo(1 - 0.8667 / 4, 9);
  });
});
