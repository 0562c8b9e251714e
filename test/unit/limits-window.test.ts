import { describe, expect, it } from 'vitest';
import { createWindowLimiter, defaultSafetyMarginMs, type WindowLimiter } from '../../src/limits/window-limiter.js';
import type { RateWindow } from '../../src/types.js';

const at = (t: number) => ({ now: () => t });
function clockAt(start = 1_000_000) {
  let t = start;
  return { now: () => t, set: (v: number) => (t = v), add: (ms: number) => (t += ms) };
}

/** Brute force: the most timestamps in any half-open window [x, x + w). */
function maxInAnyWindow(times: number[], w: number): number {
  const xs = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0; i < xs.length; i++) {
    let n = 0;
    for (let j = i; j < xs.length && xs[j]! < xs[i]! + w; j++) n++;
    best = Math.max(best, n);
  }
  return best;
}

/** A send answered at once (zero latency): reserve, then settle at the same instant. */
function startNow(l: WindowLimiter): number {
  const w = l.reserve();
  if (w === 0) l.settle(l.lastSeq);
  return w;
}

describe('sliding multi-window limiter (fake clock)', () => {
  it('admits N starts, then says exactly how long until the oldest answered one leaves the window', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 3, windowMs: 1000 }], c, { safetyMarginMs: 0 });
    expect([startNow(l), startNow(l), startNow(l)]).toEqual([0, 0, 0]);
    expect(startNow(l)).toBe(1000);
    c.set(999);
    expect(startNow(l)).toBe(1);
    c.set(1000);
    expect([startNow(l), startNow(l), startNow(l)]).toEqual([0, 0, 0]);
    expect(startNow(l)).toBe(1000);
  });

  it('a slot frees a window after the ANSWER, not after the start: the server may have counted the request as late as that', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 1, windowMs: 1000 }], c, { safetyMarginMs: 0 });
    expect(l.reserve()).toBe(0);
    const first = l.lastSeq;
    c.set(300); // a slow TLS handshake: answered 300 ms after it started
    l.settle(first);
    c.set(1000); // a start-time limiter would admit here; the server may still count the first until 1300
    expect(l.reserve()).toBe(300);
    c.set(1300);
    expect(l.reserve()).toBe(0);
  });

  it('an in-flight send holds its slot until answered (no time-based guess frees it), up to the in-flight bound', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 2, windowMs: 100 }], c, { safetyMarginMs: 0, inFlightBoundMs: 10_000 });
    l.reserve();
    l.reserve();
    expect(l.inFlight).toBe(2);
    c.set(5000);
    // Nothing answered: the only change time alone brings is the bound of the oldest.
    expect(l.peek()).toBe(5000);
    l.settle(1);
    expect(l.peek()).toBe(100);
    c.set(10_000); // the second reaches the bound: counted as answered at 10 000
    expect(l.inFlight).toBe(2 - 1);
    expect(l.peek()).toBe(0);
    expect(l.inFlight).toBe(0);
    expect(l.reserve()).toBe(0);
    expect(l.reserve()).toBe(100);
  });

  it('a 429 releases the slot at once (a refused request does not count against the quota)', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 1, windowMs: 1000 }], c, { safetyMarginMs: 0 });
    expect(l.reserve()).toBe(0);
    const refused = l.lastSeq;
    expect(l.peek()).toBeGreaterThan(0);
    c.set(20);
    l.release(refused);
    expect(l.reserve()).toBe(0);
    // Settling or releasing twice, or an unknown send, changes nothing.
    l.settle(refused);
    l.release(refused);
    l.settle(999);
    expect(l.inFlight).toBe(1);
  });

  it('peek does not record; record counts an answered send from the given time', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 2, windowMs: 100 }], c, { safetyMarginMs: 0 });
    expect(l.peek()).toBe(0);
    expect(l.peek()).toBe(0);
    l.record();
    l.record(-40);
    expect(l.peek()).toBe(60);
  });

  it('keeps every window at once: the strictest one at each moment decides, and is not timid', () => {
    const c = clockAt(0);
    const l = createWindowLimiter(
      [
        { count: 10, windowMs: 1000 },
        { count: 3, windowMs: 100 },
      ],
      c,
      { safetyMarginMs: 0 },
    );
    const starts: number[] = [];
    while (c.now() < 5000) {
      const w = startNow(l);
      if (w === 0) starts.push(c.now());
      else c.add(w);
    }
    expect(maxInAnyWindow(starts, 100)).toBe(3);
    expect(maxInAnyWindow(starts, 1000)).toBe(10);
    expect(starts.length).toBe(50);
  });

  it('with arrivals delayed arbitrarily (anywhere between start and answer), a server counting arrivals never sees a window exceeded', () => {
    // The property a start-time limiter breaks: a request held up (TLS
    // handshake) arrives after later ones and the server's window slides differently.
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 15; round++) {
      const windows: RateWindow[] = [
        { count: 2 + Math.floor(rnd() * 15), windowMs: 100 + Math.floor(rnd() * 400) },
        { count: 20 + Math.floor(rnd() * 40), windowMs: 1000 + Math.floor(rnd() * 2000) },
      ];
      const c = clockAt(0);
      const l = createWindowLimiter(windows, c, { safetyMarginMs: 0 });
      // In flight: seq -> { arrival, answer }.
      const flying = new Map<number, { arrival: number; answer: number }>();
      const arrivals: number[] = [];
      while (c.now() < 15_000) {
        c.add(1 + Math.floor(rnd() * 10));
        for (const [seq, f] of flying) {
          if (f.answer <= c.now()) {
            flying.delete(seq);
            l.settle(seq, f.answer);
          }
        }
        // Up to 8 concurrent sends; some are slow to arrive (up to 400 ms), some slow to answer.
        while (flying.size < 8 && l.reserve() === 0) {
          const delay = rnd() < 0.2 ? Math.floor(rnd() * 400) : Math.floor(rnd() * 5);
          const arrival = c.now() + delay;
          const answer = arrival + Math.floor(rnd() * 60);
          flying.set(l.lastSeq, { arrival, answer });
          arrivals.push(arrival);
        }
      }
      for (const w of windows) expect(maxInAnyWindow(arrivals, w.windowMs)).toBeLessThanOrEqual(w.count);
    }
  });

  it('the safety margin widens every window (clock granularity); the default is small', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 1, windowMs: 1000 }], c, { safetyMarginMs: 30 });
    expect(startNow(l)).toBe(0);
    c.set(1000);
    expect(l.reserve()).toBe(30);
    expect(defaultSafetyMarginMs([{ count: 1, windowMs: 1000 }])).toBe(2);
    expect(defaultSafetyMarginMs([{ count: 1, windowMs: 10_000 }, { count: 1, windowMs: 60_000 }])).toBe(20);
    expect(defaultSafetyMarginMs([{ count: 1, windowMs: 3_600_000 }])).toBe(100);
  });

  it('below scale 1, starts are paced evenly at the slowest window\'s average, on a schedule (no drift from late timers)', () => {
    const c = clockAt(0);
    const l = createWindowLimiter(
      [
        { count: 100, windowMs: 10_000 },
        { count: 40, windowMs: 1000 },
      ],
      c,
      { safetyMarginMs: 0 },
    );
    // Scale 1: the whole short window at once.
    for (let i = 0; i < 40; i++) expect(startNow(l)).toBe(0);
    c.set(20_000);
    l.setScale(0.5); // 50 per 10 s, 20 per 1 s: 200 ms apart (the 10 s window is the slower)
    expect([startNow(l), startNow(l), startNow(l)]).toEqual([0, 0, 200]); // one of catch-up after idling
    c.add(203); // the timer fired 3 ms late
    expect(startNow(l)).toBe(0);
    expect(startNow(l)).toBe(197); // the schedule, not the late start, sets the next slot
    // After idling, one start of catch-up at most.
    c.add(5000);
    expect([startNow(l), startNow(l), startNow(l)]).toEqual([0, 0, 200]);
    l.setScale(1);
    expect([startNow(l), startNow(l)]).toEqual([0, 0]);
    // Unpaced on request.
    const u = createWindowLimiter([{ count: 10, windowMs: 1000 }], c, { safetyMarginMs: 0, pace: false });
    u.setScale(0.5);
    expect([startNow(u), startNow(u), startNow(u)]).toEqual([0, 0, 0]);
  });

  it('setScale lowers every window to floor(N * f), at least 1, and never above N', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 10, windowMs: 1000 }], c, { safetyMarginMs: 0, pace: false });
    l.setScale(0.5);
    expect(l.effectiveCounts()).toEqual([5]);
    for (let i = 0; i < 5; i++) expect(startNow(l)).toBe(0);
    expect(startNow(l)).toBe(1000);
    l.setScale(0.01);
    expect(l.scale).toBe(0.01);
    c.set(1000);
    expect(startNow(l)).toBe(0);
    expect(startNow(l)).toBeGreaterThan(0);
    l.setScale(5);
    expect(l.scale).toBe(1);
    expect(() => l.setScale(0)).toThrow(RangeError);
  });

  it("snapshot/restore: a resumed run respects the earlier run's slots (in-flight ones as of now)", () => {
    const windows = [
      { count: 5, windowMs: 1000 },
      { count: 2, windowMs: 100 },
    ];
    const c = clockAt(10_000);
    const l = createWindowLimiter(windows, c, { safetyMarginMs: 0 });
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      let w: number;
      while ((w = startNow(l)) > 0) c.add(w);
      times.push(c.now());
      c.add(10);
    }
    c.add(200);
    expect(l.reserve()).toBe(0); // a fifth, still in flight at the snapshot
    const snap = l.snapshot();
    expect(snap).toEqual([...times, c.now()]);
    const resumed = createWindowLimiter(windows, at(c.now()), { safetyMarginMs: 0 });
    resumed.restore([...snap].reverse()); // any order
    expect(resumed.snapshot()).toEqual(snap);
    expect(resumed.peek()).toBeGreaterThan(0);
    // Times older than the longest window are irrelevant and dropped.
    const later = createWindowLimiter(windows, at(c.now() + 5000), { safetyMarginMs: 0 });
    later.restore(snap);
    expect(later.snapshot()).toEqual([]);
    expect(later.peek()).toBe(0);
  });

  it('answers settled out of order still free their slots in time order', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 3, windowMs: 1000 }], c, { safetyMarginMs: 0 });
    l.reserve();
    l.reserve();
    l.reserve();
    c.set(50);
    l.settle(3);
    c.set(80);
    l.settle(1);
    l.settle(2, 20); // reported late, answered at 20
    c.set(1000);
    expect(l.peek()).toBe(20);
    c.set(1020);
    expect(l.reserve()).toBe(0);
    expect(l.reserve()).toBe(30);
  });

  it('countedIn: what the server had counted when it refused a send, by estimated arrival', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 100, windowMs: 1000 }], c, { safetyMarginMs: 0 });
    // 1: started at 0, held up 600 ms on the way, answered at 620 (lag 20): arrived ~600.
    l.reserve();
    // 2..4: quick ones at 100 (answered 120); 3 is refused.
    c.set(100);
    l.reserve();
    l.reserve();
    l.reserve();
    c.set(120);
    l.settle(2);
    l.release(3);
    l.settle(4);
    c.set(620);
    l.settle(1);
    // 5 started at 900, still in flight; 6 is the refused one, started at 950; 7 started after it.
    c.set(900);
    l.reserve();
    c.set(950);
    l.reserve();
    c.set(960);
    l.reserve();
    c.set(1400);
    // Window (400, 1400]: 1 (arrived ~600) and 5 (in flight, set out before 6); not 2/4 (~100), 3 (refused), 7 (after 6).
    expect(l.countedIn(1400, 1000, 20, 6)).toBe(2);
    // Its start (0) is outside the window; its answer says it arrived inside: a start-based count would miss it.
    expect(l.countedIn(1400, 1000, 700, 6)).toBe(1);
    // Window (0, 1000]: 1, 2, 4, 5.
    expect(l.countedIn(1000, 1000, 20, 6)).toBe(4);
  });

  it('refuses nonsense windows', () => {
    expect(() => createWindowLimiter([{ count: 0, windowMs: 1000 }], at(0))).toThrow(/whole number >= 1/);
    expect(() => createWindowLimiter([{ count: 1.5, windowMs: 1000 }], at(0))).toThrow(RangeError);
  });

  it('costs O(1) per operation: 200k sends against a 600-wide window', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 600, windowMs: 60_000 }, { count: 150, windowMs: 10_000 }], c, { safetyMarginMs: 0 });
    const starts: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      c.add(7);
      if (startNow(l) === 0) starts.push(c.now());
    }
    // 1,400 s of time: 23 full minutes of 600 plus 20 s (two bursts of 150) at the end.
    expect(starts.length).toBe(23 * 600 + 2 * 150);
    expect(maxInAnyWindow(starts, 60_000)).toBe(600);
    expect(maxInAnyWindow(starts, 10_000)).toBe(150);
  });
});
