import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimClient, startSimulator, type SimClient, type Simulator } from '../../src/sim/index.js';

const burst = (c: SimClient, auth: string, n: number) =>
  Promise.all(Array.from({ length: n }, () => c.send('/v1/brands', { auth })));

describe('sim: rate limits', () => {
  let sim: Simulator;
  let c: SimClient;
  beforeAll(async () => {
    // Time-compressed quota: 15 per second and 25 per 3 s, both enforced.
    sim = await startSimulator({ limits: [{ count: 15, windowMs: 1000 }, { count: 25, windowMs: 3000 }] });
    c = createSimClient(sim);
  });
  afterAll(async () => {
    await c.close();
    await sim.close();
  });

  it('admits a burst up to the short window, answers 429 with Retry-After beyond it, and does not count the 429s', async () => {
    // Open the connections first (control requests are not counted), so the burst is tight.
    await Promise.all(Array.from({ length: 20 }, () => c.send('/__sim/stats')));
    const first = await burst(c, sim.apiKey, 20);
    const statuses = first.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(15);
    expect(statuses.filter((s) => s === 429)).toHaveLength(5);
    const limited = first.find((r) => r.status === 429)!;
    expect(limited.body.error.code).toBe('rate_limited');
    // Next slot opens 1 s after the first admitted request: rounded up, that is 1 s.
    expect(limited.headers['retry-after']).toBe('1');
    let s = sim.stats();
    expect(s.counted).toBe(15);
    expect(s.rateLimited).toBe(5);
    expect(s.maxInWindow.find((w) => w.windowMs === 1000)?.max).toBe(15);

    // After the second the short window is free again; the 3 s window (25) is now the binding one.
    await new Promise((r) => setTimeout(r, 1100));
    const second = await burst(c, sim.apiKey, 15);
    expect(second.filter((r) => r.status === 200)).toHaveLength(10);
    const limited3 = second.find((r) => r.status === 429)!;
    // The oldest of the 25 counted leaves the 3 s window about 1.8 s from now: 2 whole seconds
    // (1 only if this machine stalled for most of a second).
    expect(['1', '2']).toContain(limited3.headers['retry-after']);
    s = sim.stats();
    expect(s.counted).toBe(25);
    expect(s.maxInWindow).toEqual([
      { windowMs: 1000, count: 15, max: 15, enforced: true },
      { windowMs: 3000, count: 25, max: 25, enforced: true },
    ]);
    expect(s.limits).toEqual([{ count: 15, windowMs: 1000 }, { count: 25, windowMs: 3000 }]);
  });

  it('counts all credentials of the workspace together, and lifts the limit with setLimits([])', async () => {
    sim.setLimits([{ count: 4, windowMs: 60_000 }]);
    const tok = await c.token({ grant_type: 'client_credentials', client_id: sim.clientId, client_secret: sim.clientSecret });
    const mixed = await Promise.all([...(await burst(c, sim.apiKey, 3)), ...(await burst(c, tok.body.access_token, 3))]);
    expect(mixed.map((r) => r.status)).toEqual([200, 200, 200, 200, 429, 429]);
    sim.setLimits([]);
    expect((await burst(c, sim.apiKey, 30)).every((r) => r.status === 200)).toBe(true);
  });
});

describe('sim: rate-limit header options', () => {
  it('sends IETF RateLimit headers when asked, and omits Retry-After when told', async () => {
    const sim = await startSimulator({ limits: [{ count: 3, windowMs: 10_000 }], ratelimitHeaders: true, retryAfter: false });
    const c = createSimClient(sim);
    try {
      const ok = await c.send('/v1/brands', { auth: sim.apiKey });
      expect(ok.headers['ratelimit-policy']).toBe('"3-per-10s";q=3;w=10');
      expect(ok.headers.ratelimit).toBe('"3-per-10s";r=2;t=10');
      await burst(c, sim.apiKey, 2);
      const limited = await c.send('/v1/brands', { auth: sim.apiKey });
      expect(limited.status).toBe(429);
      expect(limited.headers['retry-after']).toBeUndefined();
      expect(limited.headers.ratelimit).toMatch(/^"3-per-10s";r=0;t=(9|10)$/);
    } finally {
      await c.close();
      await sim.close();
    }
  });

  it('sends no RateLimit headers by default and enforces the vendor defaults', async () => {
    const sim = await startSimulator();
    const c = createSimClient(sim);
    try {
      const ok = await c.send('/v1/brands', { auth: sim.apiKey });
      expect(ok.headers['ratelimit-policy']).toBeUndefined();
      expect(sim.stats().limits).toEqual([{ count: 600, windowMs: 60_000 }, { count: 150, windowMs: 10_000 }]);
      const rs = await burst(c, sim.apiKey, 160);
      expect(rs.filter((r) => r.status === 200)).toHaveLength(149);
      const limited = rs.find((r) => r.status === 429)!;
      expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(9);
      expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(10);
      expect(sim.stats().maxInWindow.find((w) => w.windowMs === 10_000)?.max).toBe(150);
    } finally {
      await c.close();
      await sim.close();
    }
  });

  it('measures watched windows without enforcing them', async () => {
    const sim = await startSimulator({ limits: [], watchWindows: [{ count: 5, windowMs: 60_000 }] });
    const c = createSimClient(sim);
    try {
      expect((await burst(c, sim.apiKey, 8)).every((r) => r.status === 200)).toBe(true);
      expect(sim.stats().maxInWindow).toEqual([{ windowMs: 60_000, count: 5, max: 8, enforced: false }]);
    } finally {
      await c.close();
      await sim.close();
    }
  });
});
