/**
 * The throughput report's maths on hand-made runs and metrics rows: rates per
 * second of running (never of the idle time between runs), percentiles of the
 * merged histograms, shares of the quota's physical limit, unfinished runs,
 * the timeline's collapsed axis, the ETA, and the HTML page's self-containment.
 */
import { describe, expect, it } from 'vitest';
import { emptyHistogram, LATENCY_BUCKETS_MS, type MetricsRow, type RunInfo, type StateCounts } from '../../src/store/index.js';
import { computeThroughput, estimateEta, formatEta, formatThroughput, MAX_TIMELINE_POINTS, windowsOf } from '../../src/report/throughput.js';
import { esc, niceMax, renderHtml } from '../../src/report/html.js';

const T0 = 1_700_000_000_000; // a whole second
const DAY = 86_400_000;
const DEFAULT = [
  { count: 600, windowMs: 60_000 },
  { count: 150, windowMs: 10_000 },
];

function run(id: string, startedAt: number, over: Partial<RunInfo> = {}): RunInfo {
  return { id, startedAt, finishedAt: null, jobs: ['zendesk-tickets'], options: { windows: DEFAULT }, outcome: null, summary: null, pid: 1, host: 'h', ...over };
}

/** `n` rows, one per second from `fromMs`, each with `sends` sends, all 2xx but `r429` 429s, `done` items, and latencies in `bucket`. */
function rows(runId: string, fromMs: number, n: number, per: { sends: number; r429?: number; done: number; bucket: number }, skip: number[] = []): MetricsRow[] {
  const out: MetricsRow[] = [];
  for (let i = 0; i < n; i++) {
    if (skip.includes(i)) continue;
    const latency = emptyHistogram();
    latency[per.bucket] = per.sends - (per.r429 ?? 0);
    out.push({
      runId,
      second: fromMs / 1000 + i,
      sends: per.sends,
      responses: { '2xx': per.sends - (per.r429 ?? 0), '4xx': 0, '429': per.r429 ?? 0, '5xx': 0, network: 0 },
      itemsDone: per.done,
      latency,
    });
  }
  return out;
}

function counts(over: Partial<StateCounts> = {}): StateCounts {
  return { pending: 0, inflight: 0, done: 0, failed: 0, dead: 0, invalid: 0, ...over };
}

const idx = (ms: number) => LATENCY_BUCKETS_MS.indexOf(ms);

// Run A: 10 s at the default windows, 10 sends/s (1 of them a 429), 9 items/s, fast.
// Run B: a day later, 20 s unlimited, 5 sends/s, 5 items/s, slow.
const A = run('run-a', T0, { finishedAt: T0 + 10_000, outcome: 'partial', summary: { elapsed_s: 10, retries: 2, token_refreshes: 1 } });
const B = run('run-b', T0 + DAY, { finishedAt: T0 + DAY + 20_000, outcome: 'completed', options: { windows: [] }, summary: { elapsed_s: 20, retries: 0, token_refreshes: 3 } });
const rowsA = rows('run-a', T0, 10, { sends: 10, r429: 1, done: 9, bucket: idx(20) });
// Make run A's tail slow: 10 of its 90 timed responses take up to 400 ms.
rowsA[9]!.latency = emptyHistogram();
rowsA[9]!.latency[idx(400)] = 9;
rowsA[8]!.latency = emptyHistogram();
rowsA[8]!.latency[idx(20)] = 8;
rowsA[8]!.latency[idx(400)] = 1;
const rowsB = rows('run-b', T0 + DAY, 20, { sends: 5, done: 5, bucket: idx(1000) });

describe('computeThroughput', () => {
  const report = computeThroughput({ runs: [B, A], metrics: [...rowsB, ...rowsA], items: { 'zendesk-tickets': counts({ done: 190, pending: 40 }) }, now: T0 + DAY + 60_000 });

  it('orders runs oldest first and sums each run from its rows', () => {
    expect(report.runs.map((r) => r.run_id)).toEqual(['run-a', 'run-b']);
    const [a, b] = report.runs;
    expect(a).toMatchObject({ requests: 100, items_done: 90, elapsed_s: 10, requests_per_s: 10, items_per_s: 9, peak_requests_per_s: 10, outcome: 'partial', retries: 2, token_refreshes: 1 });
    expect(a!.responses).toEqual({ '2xx': 90, '4xx': 0, '429': 10, '5xx': 0, network: 0 });
    expect(b).toMatchObject({ requests: 100, items_done: 100, elapsed_s: 20, requests_per_s: 5, items_per_s: 5 });
  });

  it('computes rates over the time spent running, not the day between the runs', () => {
    expect(report.totals).toMatchObject({ runs: 2, requests: 200, items_done: 190, elapsed_s: 30, requests_per_s: 6.67, items_per_s: 6.33, retries: 2, token_refreshes: 4 });
    expect(report.totals.span_s).toBe(86_420);
    expect(report.totals.responses['429']).toBe(10);
  });

  it('takes percentiles of the histograms merged across runs', () => {
    // A alone: 80 at <=20 ms, 10 at <=400 ms. Both runs: plus 100 at <=1000 ms.
    expect(report.runs[0]!.latency_ms).toEqual({ p50: 20, p95: 400, p99: 400 });
    expect(report.runs[1]!.latency_ms).toEqual({ p50: 1000, p95: 1000, p99: 1000 });
    // 190 timed: rank 95 falls in the 1000 ms bucket (90 below it); the mean of the run p50s would say 510.
    expect(report.totals.latency_ms).toEqual({ p50: 1000, p95: 1000, p99: 1000 });
    const onlyA = computeThroughput({ runs: [A, B], metrics: [...rowsA, ...rows('run-b', T0 + DAY, 2, { sends: 5, done: 5, bucket: idx(1000) })], items: {}, now: T0 });
    // 80 + 10 + 10: rank 50 at 20 ms, rank 95 at 1000 ms.
    expect(onlyA.totals.latency_ms).toEqual({ p50: 20, p95: 1000, p99: 1000 });
  });

  it("gives each run's share of its windows' physical limit, and none for an unlimited run", () => {
    // 600/60s and 150/10s allow min(600, 150) = 150 requests in 10 s.
    expect(report.runs[0]!.quota_share).toBeCloseTo(100 / 150, 4);
    expect(report.runs[0]!.windows).toEqual(['600/60s', '150/10s']);
    expect(report.runs[1]!.quota_share).toBeNull();
    expect(report.runs[1]!.windows).toEqual([]);
  });

  it('lays runs end to end on the timeline with the gap collapsed', () => {
    expect(report.timeline.bucket_s).toBe(1);
    expect(report.timeline.points).toHaveLength(30);
    expect(report.runs[1]!.timeline_offset_s).toBe(10);
    const firstB = report.timeline.points.find((p) => p.run_id === 'run-b')!;
    expect(firstB).toMatchObject({ offset_s: 10, requests_per_s: 5, items_per_s: 5, at: new Date(T0 + DAY).toISOString() });
    expect(report.timeline.points[0]).toMatchObject({ offset_s: 0, requests_per_s: 10, items_per_s: 9 });
    expect(report.timeline.points[0]!.responses).toMatchObject({ '2xx': 9, '429': 1 });
  });

  it('shows idle seconds inside a run as zero and merges seconds into buckets on a long axis', () => {
    const long = run('run-long', T0, { finishedAt: T0 + 1_000_000, summary: { elapsed_s: 1000 } });
    const r = computeThroughput({ runs: [long], metrics: rows('run-long', T0, 1000, { sends: 2, done: 1, bucket: 0 }, [0, 1, 2, 3, 4]), items: {}, now: T0 });
    expect(r.timeline.bucket_s).toBe(Math.ceil(1000 / MAX_TIMELINE_POINTS));
    expect(r.timeline.points.length).toBeLessThanOrEqual(MAX_TIMELINE_POINTS);
    expect(r.timeline.points[0]).toMatchObject({ offset_s: 0, requests_per_s: 0, width_s: 5 });
    expect(r.timeline.points[1]).toMatchObject({ offset_s: 5, requests_per_s: 2, items_per_s: 1 });
    expect(r.timeline.points.reduce((a, p) => a + p.requests_per_s * p.width_s, 0)).toBe(r.totals.requests);
    expect(r.runs[0]!.requests_per_s).toBe(1.99);
  });

  it('measures an unfinished run up to its last recorded second and leaves its retries unknown', () => {
    const killed = run('run-killed', T0 + 500);
    const r = computeThroughput({ runs: [killed], metrics: rows('run-killed', T0, 5, { sends: 4, done: 4, bucket: 0 }), items: {}, now: T0 + 60_000 });
    expect(r.runs[0]).toMatchObject({ outcome: null, finished_at: null, elapsed_s: 4.5, requests: 20, retries: null, token_refreshes: null });
    expect(r.totals).toMatchObject({ retries: null, token_refreshes: null });
    expect(formatThroughput(r)).toContain('killed or is still running');
  });

  it('keeps only the runs that touched the named jobs, and ignores rows of other runs', () => {
    const users = run('run-users', T0 + 2 * DAY, { jobs: ['zendesk-users'], finishedAt: T0 + 2 * DAY + 1000, summary: { elapsed_s: 1 } });
    const r = computeThroughput({ runs: [A, users], metrics: [...rowsA, ...rows('run-users', T0 + 2 * DAY, 1, { sends: 7, done: 7, bucket: 0 })], items: {}, jobs: ['zendesk-users'], now: T0 });
    expect(r.runs.map((x) => x.run_id)).toEqual(['run-users']);
    expect(r.totals).toMatchObject({ requests: 7, items_done: 7 });
    expect(r.filter).toEqual(['zendesk-users']);
  });

  it('reports an empty store as zeros without dividing by zero', () => {
    const r = computeThroughput({ runs: [], metrics: [], items: {}, now: T0 });
    expect(r.totals).toMatchObject({ runs: 0, requests: 0, requests_per_s: 0, elapsed_s: 0, span_s: 0, latency_ms: { p50: 0, p95: 0, p99: 0 } });
    expect(r.timeline.points).toEqual([]);
    expect(r.eta).toMatchObject({ pending: 0, seconds: 0 });
    expect(formatThroughput(r)).toContain('No runs yet');
  });

  it("estimates when the items left are done at the last run's windows", () => {
    // Pending plus inflight; the last run (B) was unlimited, so its pace of 5 items/s is the basis.
    expect(report.eta).toMatchObject({ pending: 40, seconds: 8, basis: 'recent', items_per_s: 5, windows: [] });
  });
});

describe('estimateEta', () => {
  it('uses the steady rate of the tightest window', () => {
    expect(estimateEta(1000, DEFAULT)).toEqual({ seconds: 100, items_per_s: 10, basis: 'limits' });
    expect(estimateEta(1000, [{ count: 10, windowMs: 1000 }, { count: 300, windowMs: 60_000 }])).toMatchObject({ seconds: 200, basis: 'limits' });
  });
  it('uses the recent pace when it is slower than the limits, never when faster', () => {
    expect(estimateEta(1000, DEFAULT, 4)).toEqual({ seconds: 250, items_per_s: 4, basis: 'recent' });
    expect(estimateEta(1000, DEFAULT, 50)).toMatchObject({ seconds: 100, basis: 'limits' });
    expect(estimateEta(1000, [], 20)).toMatchObject({ seconds: 50, basis: 'recent' });
  });
  it('knows nothing without windows or a pace, and needs no time for nothing', () => {
    expect(estimateEta(1000, [])).toEqual({ seconds: null, items_per_s: null, basis: 'none' });
    expect(estimateEta(1000, [], 0)).toMatchObject({ seconds: null });
    expect(estimateEta(0, DEFAULT).seconds).toBe(0);
  });
  it('formats durations for people', () => {
    expect(formatEta(null)).toBe('unknown');
    expect(formatEta(42)).toBe('42s');
    expect(formatEta(250)).toBe('4m 10s');
    expect(formatEta(3 * 3600 + 5 * 60)).toBe('3h 05m');
    expect(formatEta(3 * 86_400 + 7200)).toBe('3d 02h');
  });
});

describe('windowsOf', () => {
  it('reads the windows a run stored and refuses malformed ones', () => {
    expect(windowsOf({ windows: DEFAULT })).toEqual(DEFAULT);
    expect(windowsOf({ windows: [] })).toEqual([]);
    expect(windowsOf({})).toBeNull();
    expect(windowsOf(null)).toBeNull();
    expect(windowsOf({ windows: [{ count: '600', windowMs: 60_000 }] })).toBeNull();
  });
});

describe('renderHtml', () => {
  const evil = run('run-<b>', T0, { jobs: ['<script>alert(1)</script>'], finishedAt: T0 + 2000, summary: { elapsed_s: 2 } });
  const report = computeThroughput({ runs: [A, B, evil], metrics: [...rowsA, ...rowsB], items: { '<script>alert(1)</script>': counts({ pending: 3 }) }, now: T0 });
  const html = renderHtml(report);

  it('is one page with inline charts and no script, font or URL', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/<svg /g)).toHaveLength(3);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/https?:/i);
    expect(html).not.toMatch(/@import|url\(|<link/i);
  });
  it('escapes names from the store', () => {
    expect(html).toContain(esc('<script>alert(1)</script>'));
    expect(html).toContain('run-&lt;b&gt;');
  });
  it('has a row per run, a total and the items per state', () => {
    expect(html).toContain('66.7% of 600/60s + 150/10s');
    expect(html).toContain('no limit');
    expect(html).toMatch(/<tr class="total">/);
    expect(html).toContain('Items per state now');
  });
  it('renders an empty store', () => {
    const empty = renderHtml(computeThroughput({ runs: [], metrics: [], items: {}, now: T0 }));
    expect(empty).toContain('No runs yet');
    expect(empty).not.toMatch(/https?:/i);
  });
  it('rounds axis maxima', () => {
    expect([niceMax(0), niceMax(7), niceMax(13), niceMax(240), niceMax(1000)]).toEqual([1, 10, 20, 250, 1000]);
  });
});
