import { describe, expect, it } from 'vitest';
import { createWindowLimiter, defaultSafetyMarginMs } from '../../src/limits/window-limiter.js';
import type { RateWindow } from '../../src/types.js';

const at = (t: number) => ({ now: () => t });
function clockAt(start = 1_000_000) {
  let t = start;
  return { now: () => t, set: (v: number) => (t = v), add: (ms: number) => (t += ms) };
}

/** Brute force: the most starts in any half-open window [x, x + w). */
function maxInAnyWindow(starts: number[], w: number): number {
  let best = 0;
  for (let i = 0; i < starts.length; i++) {
    let n = 0;
    for (let j = i; j < starts.length && starts[j]! < starts[i]! + w; j++) n++;
    best = Math.max(best, n);
  }
  return best;
}

describe('sliding multi-window limiter (fake clock)', () => {
  it('admits N starts, then says exactly how long until the oldest leaves the window', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 3, windowMs: 1000 }], c, { safetyMarginMs: 0 });
    expect([l.reserve(), l.reserve(), l.reserve()]).toEqual([0, 0, 0]);
    expect(l.reserve()).toBe(1000);
    c.set(999);
    expect(l.reserve()).toBe(1);
    c.set(1000);
    expect(l.reserve()).toBe(0);
    expect(l.reserve()).toBe(0);
    expect(l.reserve()).toBe(0);
    expect(l.reserve()).toBe(1000);
  });

  it('peek does not record; record does', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 2, windowMs: 100 }], c, { safetyMarginMs: 0 });
    expect(l.peek()).toBe(0);
    expect(l.peek()).toBe(0);
    l.record();
    l.record();
    expect(l.peek()).toBe(100);
    expect(l.countSince(100)).toBe(2);
  });

  it('keeps every window at once: the strictest one at each moment decides', () => {
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
    // A greedy caller for 5 s: whenever it may start, it starts.
    while (c.now() < 5000) {
      const w = l.reserve();
      if (w === 0) starts.push(c.now());
      else c.add(w);
    }
    expect(maxInAnyWindow(starts, 100)).toBe(3);
    expect(maxInAnyWindow(starts, 1000)).toBe(10);
    // And it is not timid: 10 per second for 5 seconds.
    expect(starts.length).toBe(50);
  });

  it('never exceeds any window under random demand (property over many seeds)', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 20; round++) {
      const windows: RateWindow[] = [
        { count: 1 + Math.floor(rnd() * 20), windowMs: 50 + Math.floor(rnd() * 500) },
        { count: 1 + Math.floor(rnd() * 60), windowMs: 500 + Math.floor(rnd() * 3000) },
      ];
      const c = clockAt(0);
      const l = createWindowLimiter(windows, c, { safetyMarginMs: 0 });
      const starts: number[] = [];
      while (c.now() < 20_000) {
        c.add(Math.floor(rnd() * 30));
        if (l.reserve() === 0) starts.push(c.now());
      }
      for (const w of windows) expect(maxInAnyWindow(starts, w.windowMs)).toBeLessThanOrEqual(w.count);
    }
  });

  it('widens windows by the safety margin', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 1, windowMs: 1000 }], c, { safetyMarginMs: 30 });
    expect(l.reserve()).toBe(0);
    c.set(1000);
    expect(l.reserve()).toBe(30);
    expect(defaultSafetyMarginMs([{ count: 1, windowMs: 1000 }])).toBe(25);
    expect(defaultSafetyMarginMs([{ count: 1, windowMs: 10_000 }, { count: 1, windowMs: 60_000 }])).toBe(200);
    expect(defaultSafetyMarginMs([{ count: 1, windowMs: 3_600_000 }])).toBe(1000);
  });

  it('setScale lowers every window to floor(N * f), at least 1, and never above N', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 10, windowMs: 1000 }], c, { safetyMarginMs: 0 });
    l.setScale(0.5);
    for (let i = 0; i < 5; i++) expect(l.reserve()).toBe(0);
    expect(l.reserve()).toBe(1000);
    l.setScale(0.01);
    expect(l.scale).toBe(0.01);
    c.set(1000);
    expect(l.reserve()).toBe(0);
    expect(l.reserve()).toBeGreaterThan(0);
    l.setScale(5);
    expect(l.scale).toBe(1);
    expect(() => l.setScale(0)).toThrow(RangeError);
  });

  it('snapshot/restore: a resumed run starts from the earlier run\'s send times', () => {
    const windows = [
      { count: 5, windowMs: 1000 },
      { count: 2, windowMs: 100 },
    ];
    const c = clockAt(10_000);
    const l = createWindowLimiter(windows, c, { safetyMarginMs: 0 });
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      let w: number;
      while ((w = l.reserve()) > 0) c.add(w);
      times.push(c.now());
      c.add(10);
    }
    const snap = l.snapshot();
    expect(snap).toEqual(times);
    const resumed = createWindowLimiter(windows, at(c.now()), { safetyMarginMs: 0 });
    resumed.restore(snap);
    expect(resumed.peek()).toBe(l.peek());
    expect(resumed.peek()).toBeGreaterThan(0);
    // Send times older than the longest window are irrelevant and dropped.
    const later = createWindowLimiter(windows, at(c.now() + 5000), { safetyMarginMs: 0 });
    later.restore(snap);
    expect(later.snapshot()).toEqual([]);
    expect(later.peek()).toBe(0);
  });

  it('settle moves a recorded start forward to its response time, by at most maxShift, while it is still buffered', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 2, windowMs: 1000 }], c, { safetyMarginMs: 0 });
    l.reserve();
    const first = l.lastSeq;
    c.set(10);
    l.reserve();
    l.settle(first, 80, 1000);
    c.set(1010);
    // The newest-2 entry (the first start) now counts from 80.
    expect(l.reserve()).toBe(70);
    l.settle(l.lastSeq, 50_000, 100); // the second start: 10 -> 110 at most
    c.set(1080);
    expect(l.reserve()).toBe(0); // evicts the first start from the buffer
    l.settle(first, 99_999, 100_000); // no effect any more
    expect(l.reserve()).toBe(30); // the second start now counts from 110
    c.set(1110);
    expect(l.reserve()).toBe(0);
  });

  it('refuses nonsense windows', () => {
    expect(() => createWindowLimiter([{ count: 0, windowMs: 1000 }], at(0))).toThrow(/whole number >= 1/);
    expect(() => createWindowLimiter([{ count: 1.5, windowMs: 1000 }], at(0))).toThrow(RangeError);
  });

  it('costs O(1) per reserve: 200k reserves against a 600-wide window', () => {
    const c = clockAt(0);
    const l = createWindowLimiter([{ count: 600, windowMs: 60_000 }, { count: 150, windowMs: 10_000 }], c, { safetyMarginMs: 0 });
    const starts: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      c.add(7);
      if (l.reserve() === 0) starts.push(c.now());
    }
    // 1,400 s of time: 23 full minutes of 600 plus 20 s (two bursts of 150) at the end.
    expect(starts.length).toBe(23 * 600 + 2 * 150);
    expect(maxInAnyWindow(starts, 60_000)).toBe(600);
    expect(maxInAnyWindow(starts, 10_000)).toBe(150);
  });
});
