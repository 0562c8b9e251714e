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
  function setup(random = () => 0.5) {
    const c = clockAt(0);
    const limiter = createWindowLimiter(windows, c, { safetyMarginMs: 0 });
    const a = createAdaptiveRate({ limiter, clock: c, random });
    return { c, limiter, a };
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

  it('lowers the rate to the share the server actually accepted, then ignores echoes of the same overload', () => {
    const { c, a, limiter } = setup();
    // The server accepted 10 in the last second (its real burst quota is half of ours).
    for (let i = 0; i < 10; i++) {
      a.onResponse({ startedAt: c.now(), status: 201 });
      c.add(50);
    }
    const started = c.now();
    a.onResponse({ startedAt: started, status: 429 });
    expect(a.scale).toBeCloseTo(0.5 * 0.95, 5);
    expect(limiter.scale).toBe(a.scale);
    // In-flight sends started before the reaction come back 429 too: no second cut.
    c.add(5);
    a.onResponse({ startedAt: started - 10, status: 429 });
    expect(a.scale).toBeCloseTo(0.475, 5);
    expect(a.stats().events).toBe(1);
  });

  it('with nothing accepted to measure, cuts multiplicatively but never below a quarter per event', () => {
    const { a } = setup();
    a.onResponse({ startedAt: 0, status: 429 });
    expect(a.scale).toBeCloseTo(0.95, 5);
  });

  it('raises the rate additively after a quiet period in which the limiter was the bottleneck, never above 1', () => {
    const { c, a } = setup();
    for (let i = 0; i < 10; i++) a.onResponse({ startedAt: c.now(), status: 201 });
    a.onResponse({ startedAt: c.now(), status: 429 });
    const low = a.scale;
    c.add(10_000);
    a.tick();
    expect(a.scale).toBe(low); // quiet, but demand never hit the limiter
    c.add(10_000);
    a.noteLimited();
    a.tick();
    expect(a.scale).toBeCloseTo(low + 0.05, 5);
    a.noteLimited();
    a.tick();
    expect(a.scale).toBeCloseTo(low + 0.05, 5); // not twice in one quiet period
    for (let i = 0; i < 30; i++) {
      c.add(10_000);
      a.noteLimited();
      a.tick();
    }
    expect(a.scale).toBe(1);
  });

  it('RateLimit headers: a stricter announced policy caps the rate; remaining 0 pauses until reset', () => {
    const { a } = setup();
    a.onResponse({ startedAt: 0, status: 200, rateLimit: { remaining: 5, resetMs: 900, policies: [{ count: 10, windowMs: 1000 }] } });
    expect(a.scale).toBe(0.5);
    expect(a.pauseRemaining()).toBe(0);
    a.onResponse({ startedAt: 0, status: 200, rateLimit: { remaining: 0, resetMs: 900, policies: [] } });
    expect(a.pauseRemaining()).toBe(900);
  });

  it('state round-trips for persistence', () => {
    const { c, a } = setup();
    for (let i = 0; i < 10; i++) a.onResponse({ startedAt: c.now(), status: 201 });
    a.onResponse({ startedAt: c.now(), status: 429, retryAfterMs: 5000 });
    const s = JSON.parse(JSON.stringify(a.state()));
    const other = setup();
    other.c.set(c.now());
    other.a.restore(s);
    expect(other.a.scale).toBe(a.scale);
    expect(other.limiter.scale).toBe(a.scale);
    expect(other.a.pauseRemaining()).toBe(5000);
  });
});
