/**
 * `npm run bench -- limits [--quick]`: the rate-capped sender against the
 * simulator, beside a hand-written p-queue script (one fixed window, as most
 * migration scripts do) and bottleneck configured per its README (reservoir
 * refreshed every window).
 *
 * Time is compressed 10x throughout: the documented 600/60s + 150/10s become
 * 600/6s + 150/1s, and the 1 s .. 60 s pause after a bare 429 becomes
 * 100 ms .. 6 s. "Ten minutes' worth of quota" is therefore 60 s.
 *
 * Scenarios, each with 20 ms simulated latency and concurrency 32:
 * - known:    the simulator enforces exactly the windows the client was told;
 *             sends by 1, 3, 6, 12, 30, 60 s against the physical limit, 429s.
 * - stricter: the simulator enforces half of that, without Retry-After; the
 *             share of the server's real capacity reached, and 429 %.
 * - shared:   another client steadily uses 30% of the documented quota; the
 *             share of what remains, 429 %, and the other client's 429 %.
 *
 * Before the first scenario the process is warmed up (JIT, TLS code paths)
 * against a throwaway simulator: a cold process stretches the first burst's
 * TLS handshakes over most of a compressed second, which measures V8 warm-up
 * rather than pacing. Every measured run still opens its own connections.
 */
import { setMaxListeners } from 'node:events';
import Bottleneck from 'bottleneck';
import PQueue from 'p-queue';
import { systemClock } from '../../src/clock.js';
import { createApiKeyProvider } from '../../src/auth/api-key.js';
import { createSender } from '../../src/engine/sender.js';
import { createHttpClient } from '../../src/http/client.js';
import { RATE_LIMIT_BACKOFF, scaleBackoff } from '../../src/limits/backoff.js';
import { createGate } from '../../src/limits/gate.js';
import { createWindowLimiter } from '../../src/limits/window-limiter.js';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import type { RateWindow } from '../../src/types.js';
import type { BenchFigure, BenchSuite } from './types.js';

const SCALE = 0.1;
const DOCUMENTED: RateWindow[] = [
  { count: 600, windowMs: 6000 },
  { count: 150, windowMs: 1000 },
];
const HALF = DOCUMENTED.map((w) => ({ count: w.count / 2, windowMs: w.windowMs }));
const CONCURRENCY = 32;
const LATENCY_MS = 20;

type ClientKind = 'nexus-backfill' | 'p-queue fixed window' | 'bottleneck reservoir';

interface LoadResult {
  /** Client-side start times (ms from the first send) of every request. */
  starts: number[];
  /** Start times of the accepted (non-429) ones. */
  acceptedStarts: number[];
  sends: number;
  accepted: number;
  rateLimited: number;
  errors: number;
}

/** The most starts the windows allow in [0, T) from rest (greedy is optimal for sliding windows). */
export function physicalLimit(windows: RateWindow[], T: number): number {
  let t = 0;
  const l = createWindowLimiter(windows, { now: () => t }, { safetyMarginMs: 0 });
  let n = 0;
  while (t < T) {
    const w = l.reserve();
    if (w === 0) {
      n++;
      l.settle(l.lastSeq, t); // answered at once: counted exactly at its start
    } else t += w;
  }
  return n;
}

const countBefore = (xs: number[], T: number) => xs.filter((x) => x < T).length;

function newRecorder() {
  let t0 = -1;
  const r: LoadResult = { starts: [], acceptedStarts: [], sends: 0, accepted: 0, rateLimited: 0, errors: 0 };
  return {
    r,
    started(): number {
      const now = Date.now();
      if (t0 < 0) t0 = now;
      r.sends++;
      r.starts.push(now - t0);
      return now - t0;
    },
    finished(at: number, status: number | undefined) {
      if (status === undefined) r.errors++;
      else if (status === 429) r.rateLimited++;
      else {
        r.accepted++;
        r.acceptedStarts.push(at);
      }
    },
  };
}

const retryAfterMs = (h: Record<string, string | string[] | undefined>) => {
  const v = h['retry-after'];
  return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) * 1000 : undefined;
};

/** Keeps `workers` loops sending GET /v1/brands until the deadline. */
async function runLoad(kind: ClientKind, sim: Simulator, apiKey: string, windows: RateWindow[], durationMs: number): Promise<LoadResult> {
  const http = createHttpClient({ baseUrl: sim.url, caFile: sim.caFile, concurrency: CONCURRENCY, timeoutMs: 30_000 });
  const rec = newRecorder();
  const deadline = Date.now() + durationMs;
  const headers = { authorization: `Bearer ${apiKey}` };
  const once = async (): Promise<number | undefined> => {
    const at = rec.started();
    try {
      const res = await http.request({ method: 'GET', path: '/v1/brands', headers });
      rec.finished(at, res.status);
      return res.status === 429 ? (retryAfterMs(res.headers) ?? 1000 * SCALE) : 0;
    } catch {
      rec.finished(at, undefined);
      return 0;
    }
  };
  try {
    if (kind === 'nexus-backfill') {
      const gate = createGate({ windows, concurrency: CONCURRENCY, clock: systemClock, rateLimitBackoff: scaleBackoff(RATE_LIMIT_BACKOFF, SCALE) });
      const sender = createSender({ http, gate, clock: systemClock, auth: createApiKeyProvider({ apiKey }) });
      let t0 = -1;
      sender.subscribe((e) => {
        if (e.type === 'send') {
          if (t0 < 0) t0 = e.startedAt;
          rec.r.sends++;
          rec.r.starts.push(e.startedAt - t0);
        }
        if (e.type === 'response') rec.finished(e.startedAt - t0, e.status);
      });
      const ctl = new AbortController();
      // 64 workers wait on one signal: more listeners than Node's default warning threshold.
      setMaxListeners(0, ctl.signal);
      const timer = setTimeout(() => ctl.abort(new Error('bench deadline')), durationMs);
      await Promise.all(
        Array.from({ length: CONCURRENCY * 2 }, async () => {
          while (!ctl.signal.aborted) {
            try {
              await sender.send({ method: 'GET', path: '/v1/brands' }, undefined, { waitSignal: ctl.signal });
            } catch {
              break;
            }
          }
        }),
      );
      clearTimeout(timer);
      gate.close();
    } else if (kind === 'p-queue fixed window') {
      // What most migration scripts do: the per-minute quota as one fixed window, sleep on 429 and retry.
      const longest = windows.reduce((a, b) => (b.windowMs > a.windowMs ? b : a));
      const q = new PQueue({ concurrency: CONCURRENCY, intervalCap: longest.count, interval: longest.windowMs });
      const job = async (): Promise<void> => {
        const wait = await once();
        if (wait && Date.now() < deadline) await new Promise((r) => setTimeout(r, wait));
      };
      while (Date.now() < deadline) {
        if (q.size < CONCURRENCY * 2) void q.add(job);
        else await q.onSizeLessThan(CONCURRENCY * 2);
      }
      q.clear();
      await q.onIdle();
    } else {
      // bottleneck per its README: a reservoir refreshed every window, maxConcurrent, retry on 'failed'.
      const longest = windows.reduce((a, b) => (b.windowMs > a.windowMs ? b : a));
      const limiter = new Bottleneck({
        reservoir: longest.count,
        reservoirRefreshAmount: longest.count,
        reservoirRefreshInterval: longest.windowMs,
        maxConcurrent: CONCURRENCY,
      });
      limiter.on('failed', (err: { retryMs?: number }) => (Date.now() < deadline ? (err.retryMs ?? 0) : undefined));
      const job = async () => {
        const wait = await once();
        if (wait) throw Object.assign(new Error('429'), { retryMs: wait });
      };
      let inFlight = 0;
      while (Date.now() < deadline) {
        if (inFlight < CONCURRENCY * 2) {
          inFlight++;
          void limiter.schedule(job).catch(() => {}).finally(() => inFlight--);
        } else await new Promise((r) => setTimeout(r, 2));
      }
      await limiter.stop({ dropWaitingJobs: true }).catch(() => {});
    }
  } finally {
    await http.close();
  }
  return rec.r;
}

/** A second client using `share` of the documented long-window quota, evenly spaced, ignoring 429s. */
function startOtherClient(sim: Simulator, share: number) {
  const key = sim.createApiKey({ scopes: ['brands:read'] });
  const http = createHttpClient({ baseUrl: sim.url, caFile: sim.caFile, concurrency: 8, timeoutMs: 30_000 });
  const perSecond = (DOCUMENTED[0]!.count / (DOCUMENTED[0]!.windowMs / 1000)) * share;
  const stats = { sent: 0, accepted: 0, rateLimited: 0 };
  const timer = setInterval(() => {
    stats.sent++;
    http.request({ method: 'GET', path: '/v1/brands', headers: { authorization: `Bearer ${key}` } }).then(
      (r) => (r.status === 429 ? stats.rateLimited++ : stats.accepted++),
      () => {},
    );
  }, 1000 / perSecond);
  return {
    stats,
    async stop() {
      clearInterval(timer);
      await http.close();
    },
  };
}

const CLIENTS: ClientKind[] = ['nexus-backfill', 'p-queue fixed window', 'bottleneck reservoir'];

/** Warms the process (not the measured connections): a few hundred requests against a throwaway simulator. */
async function warmUp(): Promise<void> {
  const sim = await startSimulator({ limits: [], faults: { latencyMs: LATENCY_MS } });
  const http = createHttpClient({ baseUrl: sim.url, caFile: sim.caFile, concurrency: CONCURRENCY, timeoutMs: 30_000 });
  let n = 0;
  try {
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (n++ < 600) await http.request({ method: 'GET', path: '/v1/brands', headers: { authorization: `Bearer ${sim.apiKey}` } });
      }),
    );
  } finally {
    await http.close();
    await sim.close();
  }
}

export const limitsBench: BenchSuite = async ({ quick, log }) => {
  const figures: BenchFigure[] = [];
  const fig = (name: string, value: number, unit: string, goal?: string, met?: boolean, details?: Record<string, unknown>) =>
    figures.push({ suite: 'limits', name, value, unit, ...(goal ? { goal } : {}), ...(met !== undefined ? { met } : {}), ...(details ? { details } : {}) });

  await warmUp();

  // 1. Known limits: sends against the physical limit at each checkpoint, zero 429s.
  const checkpoints = (quick ? [1, 3, 6] : [1, 3, 6, 12, 30, 60]).map((s) => s * 1000);
  const knownMs = checkpoints.at(-1)! + 200;
  for (const kind of quick ? CLIENTS.slice(0, 1) : CLIENTS) {
    const sim = await startSimulator({ limits: DOCUMENTED, faults: { latencyMs: LATENCY_MS } });
    // The other two are compared up to 6 s (they go wrong within the first long window); keeps the suite near 6 minutes.
    const r = await runLoad(kind, sim, sim.apiKey, DOCUMENTED, kind === 'nexus-backfill' ? knownMs : Math.min(knownMs, 6_200));
    const s = sim.stats();
    await sim.close();
    for (const T of checkpoints) {
      if (kind !== 'nexus-backfill' && T > 6_000) continue;
      const limit = physicalLimit(DOCUMENTED, T);
      const ratio = countBefore(r.acceptedStarts, T) / limit;
      fig(`known: ${kind} accepted by ${T / 1000}s / physical ${limit}`, ratio, 'x', kind === 'nexus-backfill' ? '>= 0.99' : undefined, kind === 'nexus-backfill' ? ratio >= 0.99 : undefined);
    }
    fig(`known: ${kind} 429s`, s.rateLimited, 'responses', kind === 'nexus-backfill' ? '= 0' : undefined, kind === 'nexus-backfill' ? s.rateLimited === 0 : undefined, {
      maxInWindow: s.maxInWindow,
    });
    log(`known/${kind}: ${r.sends} sends, ${r.accepted} accepted, ${s.rateLimited} 429s, maxInWindow ${s.maxInWindow.map((w) => `${w.max}/${w.count}`).join(' ')}`);
  }

  // 2. A stricter server (half the quota, no Retry-After), >= 10 long windows.
  const strictMs = quick ? 8000 : 60_000;
  for (const kind of CLIENTS) {
    const sim = await startSimulator({ limits: HALF, retryAfter: false, faults: { latencyMs: LATENCY_MS } });
    const r = await runLoad(kind, sim, sim.apiKey, DOCUMENTED, strictMs);
    const s = sim.stats();
    await sim.close();
    const capacity = physicalLimit(HALF, strictMs);
    const share = countBefore(r.acceptedStarts, strictMs) / capacity;
    const pct = (100 * r.rateLimited) / Math.max(1, r.sends);
    const mine = kind === 'nexus-backfill';
    fig(`stricter ${strictMs / 1000}s: ${kind} share of real capacity`, share, 'x', mine ? '>= 0.9' : undefined, mine ? share >= 0.9 : undefined);
    fig(`stricter ${strictMs / 1000}s: ${kind} 429 share`, pct, '%', mine ? '<= 2' : undefined, mine ? pct <= 2 : undefined);
    log(`stricter/${kind}: ${r.sends} sends, ${r.accepted} accepted of capacity ${capacity}, ${r.rateLimited} 429s, maxInWindow ${s.maxInWindow.map((w) => `${w.max}/${w.count}`).join(' ')}`);
  }

  // 3. Another client steadily using 30% of the quota.
  const sharedMs = quick ? 8000 : 30_000;
  for (const kind of CLIENTS) {
    const sim = await startSimulator({ limits: DOCUMENTED, faults: { latencyMs: LATENCY_MS } });
    const other = startOtherClient(sim, 0.3);
    await new Promise((r) => setTimeout(r, 1000)); // the other client is already running
    const r = await runLoad(kind, sim, sim.apiKey, DOCUMENTED, sharedMs);
    const o = { ...other.stats };
    await other.stop();
    await sim.close();
    // What remains for us: the capacity over our run minus what the other client had accepted meanwhile.
    const otherRate = o.accepted / ((sharedMs + 1000) / 1000);
    const remains = physicalLimit(DOCUMENTED, sharedMs) - otherRate * (sharedMs / 1000);
    const share = countBefore(r.acceptedStarts, sharedMs) / remains;
    const pct = (100 * r.rateLimited) / Math.max(1, r.sends);
    const otherPct = (100 * o.rateLimited) / Math.max(1, o.sent);
    const mine = kind === 'nexus-backfill';
    fig(`shared 30% ${sharedMs / 1000}s: ${kind} share of what remains`, share, 'x', mine ? '>= 0.9' : undefined, mine ? share >= 0.9 : undefined);
    fig(`shared 30% ${sharedMs / 1000}s: ${kind} 429 share`, pct, '%', mine ? '<= 2' : undefined, mine ? pct <= 2 : undefined);
    fig(`shared 30% ${sharedMs / 1000}s: other client's 429 share beside ${kind}`, otherPct, '%', mine ? '<= 2 (not starved)' : undefined, mine ? otherPct <= 2 : undefined);
    log(`shared/${kind}: ${r.sends} sends, ${r.accepted} accepted (remains ~${remains.toFixed(0)}), ${r.rateLimited} 429s; other ${o.accepted}/${o.sent} accepted`);
  }
  return figures;
};
