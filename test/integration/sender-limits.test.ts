/**
 * The rate-capped half of the sender over real sockets: known limits never
 * exceeded (zero 429s), a server stricter than configured, each Retry-After
 * form, 5xx bursts, hung responses, http:// refused.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { createApiKeyProvider } from '../../src/auth/api-key.js';
import { createSender } from '../../src/engine/sender.js';
import { UsageError } from '../../src/errors.js';
import { createHttpClient } from '../../src/http/client.js';
import { RETRY_AFTER_FLOOR_MS, scaleBackoff, RATE_LIMIT_BACKOFF } from '../../src/limits/backoff.js';
import { createGate } from '../../src/limits/gate.js';
import { loadTlsMaterial } from '../../src/sim/tls.js';
import { brandSpecs, drive, kinds, orgSpecs, startRig, type Rig } from './sender-helpers.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('sender pacing against the simulator', () => {
  it('limits known: no window ever exceeded and zero 429s', async () => {
    const windows = [
      { count: 30, windowMs: 1000 },
      { count: 60, windowMs: 3000 },
    ];
    rig = await startRig({ limits: windows, faults: { latencyMs: 10, jitterMs: 20 } }, { windows, concurrency: 16 });
    const res = await drive(rig, orgSpecs(150, 'known'));
    const s = rig.sim.stats();
    expect(kinds(res.outcomes)).toEqual({ done: 150 });
    expect(s.rateLimited).toBe(0);
    expect(res.rateLimited).toBe(0);
    for (const w of s.maxInWindow) expect(w.max).toBeLessThanOrEqual(w.count);
    // And not timid: some window was filled to its quota.
    expect(s.maxInWindow.some((w) => w.max === w.count)).toBe(true);
  });

  it('a server stricter than configured (half the quota, no Retry-After): few 429s, every item succeeds', async () => {
    const told = [
      { count: 40, windowMs: 1000 },
      { count: 80, windowMs: 3000 },
    ];
    const real = told.map((w) => ({ count: w.count / 2, windowMs: w.windowMs }));
    rig = await startRig({ limits: real, retryAfter: false, faults: { latencyMs: 10 } }, { windows: told, concurrency: 16 });
    const res = await drive(rig, orgSpecs(160, 'strict'));
    const s = rig.sim.stats();
    expect(kinds(res.outcomes)).toEqual({ done: 160 });
    expect(s.records.organizations).toBe(160);
    // The adaptive layer found the real quota: 429s are a small share of the sends.
    expect(s.rateLimited).toBeGreaterThan(0);
    expect(s.rateLimited / s.apiRequests).toBeLessThan(0.15);
    expect(rig.gate.adaptive.scale).toBeLessThan(0.6);
    expect(rig.gate.adaptive.scale).toBeGreaterThan(0.3);
  });

  it('a 429 with Retry-After (seconds, from the simulator) pauses and the item succeeds without costing an attempt', async () => {
    rig = await startRig({ limits: [{ count: 5, windowMs: 1000 }] }, { windows: [{ count: 50, windowMs: 1000 }], concurrency: 8 });
    const res = await drive(rig, orgSpecs(12, 'ra'));
    expect(kinds(res.outcomes)).toEqual({ done: 12 });
    expect(res.rateLimited).toBeGreaterThan(0);
    expect(res.attempts.every((a) => a === 1)).toBe(true);
    expect(rig.events.some((e) => e.type === 'rate_limited' && e.retryAfterMs === 1000)).toBe(true);
  });

  it('5xx bursts: retried with backoff by the outcome table, every item done, nothing duplicated', async () => {
    rig = await startRig({ limits: [], seed: 7, faults: { error500: 0.1, error502: 0.1, error503: 0.1 } }, { concurrency: 8 });
    const res = await drive(rig, orgSpecs(80, 'burst'));
    const s = rig.sim.stats();
    expect(kinds(res.outcomes)).toEqual({ done: 80 });
    expect(s.faults.error500 + s.faults.error502 + s.faults.error503).toBeGreaterThan(10);
    expect(res.attempts.some((a) => a > 1)).toBe(true);
    expect(s.records.organizations).toBe(80);
    expect(s.duplicateExternalIds.organizations).toBe(0);
  });

  it('hung responses hit the timeout as a network error of kind timeout; the next send works', async () => {
    rig = await startRig({ limits: [], faults: { hang: 1 } }, { timeoutMs: 400 });
    const hung = await rig.sender.send(orgSpecs(1, 'hang')[0]!);
    expect(hung.error?.kind).toBe('timeout');
    expect(hung.response).toBeUndefined();
    rig.sim.setFaults({ hang: 0 });
    const ok = await rig.sender.send(orgSpecs(1, 'hang')[0]!);
    expect(ok.response?.status).toBe(201);
  });

  it('http:// is refused before anything is sent (usage error, exit 1)', async () => {
    rig = await startRig({ limits: [] });
    const plain = rig.sim.url.replace('https://', 'http://');
    expect(() => createHttpClient({ baseUrl: plain, concurrency: 1, timeoutMs: 1000 })).toThrow(UsageError);
    expect(rig.sim.stats().requests).toBe(0);
  });
});

describe('each Retry-After form (a tiny HTTPS server that 429s the first request)', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
  });

  async function serve(retryAfter: () => string | undefined) {
    const tls = loadTlsMaterial();
    const times: number[] = [];
    const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      times.push(Date.now());
      if (times.length === 1) {
        const ra = retryAfter();
        res.writeHead(429, { 'content-type': 'application/json', ...(ra !== undefined ? { 'retry-after': ra } : {}) });
        res.end('{"error":{"code":"rate_limited"}}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ brands: [], auth: req.headers.authorization === 'Bearer nxk_test_key_aaaaaaaaaaaaaaaaaaaaaaaaaaaa' }));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const http = createHttpClient({ baseUrl: url, caFile: tls.caFile, concurrency: 2, timeoutMs: 5000 });
    const gate = createGate({ windows: [], concurrency: 2, clock: systemClock, rateLimitBackoff: scaleBackoff(RATE_LIMIT_BACKOFF, 0.2) });
    const sender = createSender({ http, gate, clock: systemClock, auth: createApiKeyProvider({ apiKey: 'nxk_test_key_aaaaaaaaaaaaaaaaaaaaaaaaaaaa' }) });
    const r = await sender.send(brandSpecs(1)[0]!);
    await http.close();
    gate.close();
    return { r, gap: times[1]! - times[0]!, times };
  }

  const forms: [string, () => string | undefined, number][] = [
    ['delay-seconds', () => '1', 1000],
    ['0 (a short floor, not a hot loop)', () => '0', RETRY_AFTER_FLOOR_MS],
    ['absent (backoff with full jitter, floor scaled to 200 ms)', () => undefined, 200],
  ];
  it.each(forms)('%s', async (_name, header, minGap) => {
    const { r, gap, times } = await serve(header);
    expect(r.response?.status).toBe(200);
    expect(r.response?.body).toMatchObject({ auth: true });
    expect(r).toMatchObject({ sends: 2, rateLimited: 1 });
    expect(times).toHaveLength(2);
    // The replay waited at least as long as it was told (a lower bound, not a speed claim).
    expect(gap).toBeGreaterThanOrEqual(minGap - 5);
  });

  it('an HTTP-date', async () => {
    let until = 0;
    const { r, gap, times } = await serve(() => {
      until = Math.ceil((Date.now() + 1500) / 1000) * 1000;
      return new Date(until).toUTCString();
    });
    expect(r).toMatchObject({ sends: 2, rateLimited: 1 });
    expect(r.response?.status).toBe(200);
    expect(times[1]!).toBeGreaterThanOrEqual(until - 5);
    expect(gap).toBeGreaterThanOrEqual(1000);
  });
});
