/**
 * Throughput across runs, computed from what the store keeps: the runs (with
 * the options and summary each stored) and the per-second metrics rows. Pure:
 * no store, no clock, no printing; `report`, `demo` and `status` feed it and
 * render the result (text here, HTML in ./html.ts, JSON as the object itself).
 *
 * Counts (requests, responses, items done, latency) come from the metrics rows,
 * not from run summaries: a run killed with -9 never writes its summary, but
 * its rows up to the last flush are there, so the rows are the one source that
 * covers every run. Retries and token refreshes exist only in summaries; they
 * are null for a run that never finished.
 *
 * Time: rates are per second of a run's own elapsed time, never of the wall
 * clock between the first and the last run. Days between two runs are not
 * slowness; the timeline collapses them and marks where each run starts.
 */
import { physicalLimit } from '../engine/migrate.js';
import { emptyHistogram, percentile, type MetricsRow, type ResponseCounts, type RunInfo, type StateCounts } from '../store/index.js';
import { formatWindow } from '../duration.js';
import type { RateWindow } from '../types.js';

/** At most this many points on the timeline: seconds are merged into wider buckets beyond it. */
export const MAX_TIMELINE_POINTS = 240;

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
}

export interface RunThroughput {
  run_id: string;
  started_at: string;
  /** Null while the run is going on, or when it died without a checkpoint of its end. */
  finished_at: string | null;
  /** `completed | partial | interrupted | auth_failed`, or null for an unfinished run. */
  outcome: string | null;
  jobs: string[];
  /** The quota windows the run kept to, as given (`600/60s`); empty when it ran unlimited. */
  windows: string[];
  elapsed_s: number;
  requests: number;
  responses: ResponseCounts;
  items_done: number;
  requests_per_s: number;
  items_per_s: number;
  /** Busiest second's requests. */
  peak_requests_per_s: number;
  /** Requests over what the windows allow in the elapsed time; null when the run had no windows. */
  quota_share: number | null;
  /** From the run's stored summary; null when it holds no count (a run killed or still running wrote none). */
  retries: number | null;
  token_refreshes: number | null;
  latency_ms: LatencySummary;
  /** Where the run starts on the timeline's collapsed axis (seconds of active time before it). */
  timeline_offset_s: number;
}

export interface TimelinePoint {
  run_id: string;
  /** Position on the collapsed axis: seconds of run time before this bucket. */
  offset_s: number;
  /** Wall-clock start of the bucket. */
  at: string;
  /** Bucket width in seconds (the last bucket of a run may be narrower). */
  width_s: number;
  requests_per_s: number;
  items_per_s: number;
  /** Response counts in the bucket (not per second): they stack to the bucket's total. */
  responses: ResponseCounts;
}

export interface ThroughputTotals {
  runs: number;
  /** Sum of the runs' elapsed time: the time the runner was actually running. */
  elapsed_s: number;
  /** Wall clock from the first run's start to the last run's end, gaps included. */
  span_s: number;
  requests: number;
  responses: ResponseCounts;
  items_done: number;
  requests_per_s: number;
  items_per_s: number;
  /** Sums over the runs whose summary holds the count; null when none does. */
  retries: number | null;
  token_refreshes: number | null;
  /** Percentiles of every response of every run, from the merged histograms. */
  latency_ms: LatencySummary;
}

export interface Eta {
  /** Seconds until the pending items are done; 0 when none is pending; null when nothing bounds it. */
  seconds: number | null;
  /** Items per second the estimate assumes. */
  items_per_s: number | null;
  /** `limits`: the quota windows' steady rate; `recent`: the last run's rate, slower than the limits; `none`: no basis. */
  basis: 'limits' | 'recent' | 'none';
}

export interface ThroughputReport {
  generated_at: string;
  /** The jobs asked for; empty means every run. */
  filter: string[];
  runs: RunThroughput[];
  totals: ThroughputTotals;
  timeline: { bucket_s: number; points: TimelinePoint[] };
  /** Items per state per job now. */
  items: Record<string, StateCounts>;
  /** When the items left (pending + inflight) would be done at the last run's windows and pace. */
  eta: Eta & { pending: number; windows: string[] };
}

export interface ThroughputInput {
  /** In any order; runs that touched none of `jobs` are left out when `jobs` is non-empty. */
  runs: readonly RunInfo[];
  /** Rows of any runs; rows of runs not selected are ignored. */
  metrics: readonly MetricsRow[];
  /** Items per state per job now (store.counts). */
  items: Record<string, StateCounts>;
  jobs?: readonly string[];
  now: number;
}

/** The runs `jobs` selects (every run when empty), oldest first. */
export function selectRuns(runs: readonly RunInfo[], jobs: readonly string[] = []): RunInfo[] {
  const wanted = new Set(jobs);
  return runs.filter((r) => wanted.size === 0 || r.jobs.some((j) => wanted.has(j))).sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id));
}

export function computeThroughput(input: ThroughputInput): ThroughputReport {
  const runs = selectRuns(input.runs, input.jobs);
  const rowsByRun = new Map<string, MetricsRow[]>(runs.map((r) => [r.id, []]));
  for (const row of input.metrics) rowsByRun.get(row.runId)?.push(row);
  for (const rows of rowsByRun.values()) rows.sort((a, b) => a.second - b.second);

  const totalHistogram = emptyHistogram();
  const perRun: RunThroughput[] = [];
  const spans: number[] = [];
  let offset = 0;
  for (const run of runs) {
    const rows = rowsByRun.get(run.id)!;
    const histogram = emptyHistogram();
    for (const row of rows) addInto(histogram, row.latency);
    addInto(totalHistogram, histogram);
    const r = runThroughput(run, rows, histogram, offset);
    perRun.push(r);
    const span = runSpanSeconds(run, rows, r.elapsed_s);
    spans.push(span);
    offset += span;
  }

  const bucket = Math.max(1, Math.ceil(offset / MAX_TIMELINE_POINTS));
  const points = runs.flatMap((run, i) => timelineOf(run, rowsByRun.get(run.id)!, spans[i]!, perRun[i]!.timeline_offset_s, bucket));

  const elapsed = perRun.reduce((a, r) => a + r.elapsed_s, 0);
  const requests = perRun.reduce((a, r) => a + r.requests, 0);
  const itemsDone = perRun.reduce((a, r) => a + r.items_done, 0);
  const first = runs[0];
  const lastEnd = runs.reduce((a, r, i) => Math.max(a, r.finishedAt ?? r.startedAt + perRun[i]!.elapsed_s * 1000), 0);
  const totals: ThroughputTotals = {
    runs: runs.length,
    elapsed_s: round(elapsed, 3),
    span_s: first ? round(Math.max(0, lastEnd - first.startedAt) / 1000, 3) : 0,
    requests,
    responses: perRun.reduce((a, r) => addResponses(a, r.responses), emptyResponseCounts()),
    items_done: itemsDone,
    requests_per_s: rate(requests, elapsed),
    items_per_s: rate(itemsDone, elapsed),
    retries: sumKnown(perRun.map((r) => r.retries)),
    token_refreshes: sumKnown(perRun.map((r) => r.token_refreshes)),
    latency_ms: latencyOf(totalHistogram),
  };

  const pending = Object.values(input.items).reduce((a, c) => a + c.pending + c.inflight, 0);
  const lastRun = runs.at(-1);
  const lastWindows = lastRun ? (windowsOf(lastRun.options) ?? []) : [];
  const lastPace = perRun.at(-1)?.items_per_s;
  const eta = estimateEta(pending, lastWindows, lastPace && lastPace > 0 ? lastPace : undefined);

  return {
    generated_at: new Date(input.now).toISOString(),
    filter: [...(input.jobs ?? [])],
    runs: perRun,
    totals,
    timeline: { bucket_s: bucket, points },
    items: input.items,
    eta: { ...eta, pending, windows: lastWindows.map(formatWindow) },
  };
}

/**
 * How long `pendingItems` take at the configured windows: the steady rate the
 * tightest window allows (every item needs at least one request), or the
 * recent pace in items/s when that is slower (latency, concurrency, retries
 * and 429s all show up in it). The burst a fresh window allows is ignored on
 * purpose: the quota is shared with the workspace's other clients, so a full
 * window cannot be counted on. For `status`: pass the job's pending count,
 * the windows of the last run and its items_per_s.
 */
export function estimateEta(pendingItems: number, windows: readonly RateWindow[], recentRate?: number): Eta {
  const limitRate = windows.length ? Math.min(...windows.map((w) => w.count / (w.windowMs / 1000))) : Infinity;
  const recent = recentRate !== undefined && Number.isFinite(recentRate) && recentRate > 0 ? recentRate : Infinity;
  const pace = Math.min(limitRate, recent);
  const basis: Eta['basis'] = pace === Infinity ? 'none' : recent < limitRate ? 'recent' : 'limits';
  if (pendingItems <= 0) return { seconds: 0, items_per_s: pace === Infinity ? null : round(pace, 3), basis };
  if (pace === Infinity) return { seconds: null, items_per_s: null, basis };
  return { seconds: Math.ceil(pendingItems / pace), items_per_s: round(pace, 3), basis };
}

/** `3h 05m`, `4m 10s`, `12s`; `unknown` for null. */
export function formatEta(seconds: number | null): string {
  if (seconds === null) return 'unknown';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(s / 3600);
  if (h < 48) return `${h}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${String(h % 24).padStart(2, '0')}h`;
}

/**
 * The windows a run stored in its options, or null when they are missing or
 * not well-formed (a store written by an older runner, or hand-edited).
 */
export function windowsOf(options: unknown): RateWindow[] | null {
  const raw = (options as { windows?: unknown } | null)?.windows;
  if (!Array.isArray(raw)) return null;
  const ok = raw.every((w) => w && typeof w === 'object' && isPositive((w as RateWindow).count) && isPositive((w as RateWindow).windowMs));
  return ok ? raw.map((w: RateWindow) => ({ count: w.count, windowMs: w.windowMs })) : null;
}

function runThroughput(run: RunInfo, rows: readonly MetricsRow[], histogram: readonly number[], offset: number): RunThroughput {
  const summary = (run.summary ?? {}) as Record<string, unknown>;
  const elapsed = elapsedSeconds(run, rows);
  const requests = rows.reduce((a, r) => a + r.sends, 0);
  const itemsDone = rows.reduce((a, r) => a + r.itemsDone, 0);
  const windows = windowsOf(run.options) ?? [];
  const limit = physicalLimit(windows, elapsed * 1000);
  return {
    run_id: run.id,
    started_at: new Date(run.startedAt).toISOString(),
    finished_at: run.finishedAt === null ? null : new Date(run.finishedAt).toISOString(),
    outcome: run.outcome,
    jobs: [...run.jobs],
    windows: windows.map(formatWindow),
    elapsed_s: round(elapsed, 3),
    requests,
    responses: rows.reduce((a, r) => addResponses(a, r.responses), emptyResponseCounts()),
    items_done: itemsDone,
    requests_per_s: rate(requests, elapsed),
    items_per_s: rate(itemsDone, elapsed),
    peak_requests_per_s: rows.reduce((a, r) => Math.max(a, r.sends), 0),
    quota_share: Number.isFinite(limit) && limit > 0 ? round(requests / limit, 4) : null,
    retries: isCount(summary.retries) ? summary.retries : null,
    token_refreshes: isCount(summary.token_refreshes) ? summary.token_refreshes : null,
    latency_ms: latencyOf(histogram),
    timeline_offset_s: offset,
  };
}

/**
 * A finished run's own measure (the summary's elapsed_s, else finish minus
 * start). An unfinished run, running now or killed, is measured up to the
 * end of its last recorded second: nothing is known after it.
 */
function elapsedSeconds(run: RunInfo, rows: readonly MetricsRow[]): number {
  const fromSummary = (run.summary as { elapsed_s?: unknown } | null)?.elapsed_s;
  if (typeof fromSummary === 'number' && Number.isFinite(fromSummary) && fromSummary >= 0) return fromSummary;
  if (run.finishedAt !== null) return Math.max(0, run.finishedAt - run.startedAt) / 1000;
  const last = rows.at(-1);
  return last ? Math.max(0, (last.second + 1) * 1000 - run.startedAt) / 1000 : 0;
}

/** Whole seconds the run takes on the timeline: its elapsed time, stretched to cover every row it recorded. */
function runSpanSeconds(run: RunInfo, rows: readonly MetricsRow[], elapsed: number): number {
  const start = Math.floor(run.startedAt / 1000);
  const lastRow = rows.at(-1);
  return Math.max(1, Math.ceil(elapsed), lastRow ? lastRow.second - start + 1 : 0);
}

function timelineOf(run: RunInfo, rows: readonly MetricsRow[], span: number, offset: number, bucket: number): TimelinePoint[] {
  const start = Math.floor(run.startedAt / 1000);
  const n = Math.ceil(span / bucket);
  const points: TimelinePoint[] = Array.from({ length: n }, (_, i) => {
    const width = Math.min(bucket, span - i * bucket);
    return { run_id: run.id, offset_s: offset + i * bucket, at: new Date((start + i * bucket) * 1000).toISOString(), width_s: width, requests_per_s: 0, items_per_s: 0, responses: emptyResponseCounts() };
  });
  const sends = new Array<number>(n).fill(0);
  const done = new Array<number>(n).fill(0);
  for (const row of rows) {
    // A row stamped just before the run's recorded start (clock skew between store and engine) belongs to its first bucket.
    const i = Math.min(n - 1, Math.max(0, Math.floor((row.second - start) / bucket)));
    sends[i]! += row.sends;
    done[i]! += row.itemsDone;
    addResponses(points[i]!.responses, row.responses);
  }
  for (const [i, p] of points.entries()) {
    p.requests_per_s = round(sends[i]! / p.width_s, 3);
    p.items_per_s = round(done[i]! / p.width_s, 3);
  }
  return points;
}

export function emptyResponseCounts(): ResponseCounts {
  return { '2xx': 0, '4xx': 0, '429': 0, '5xx': 0, network: 0 };
}

function addResponses(into: ResponseCounts, add: ResponseCounts): ResponseCounts {
  into['2xx'] += add['2xx'];
  into['4xx'] += add['4xx'];
  into['429'] += add['429'];
  into['5xx'] += add['5xx'];
  into.network += add.network;
  return into;
}

function addInto(into: number[], add: readonly number[]): void {
  for (let i = 0; i < into.length; i++) into[i]! += add[i] ?? 0;
}

function latencyOf(histogram: readonly number[]): LatencySummary {
  return { p50: percentile(histogram, 50), p95: percentile(histogram, 95), p99: percentile(histogram, 99) };
}

function sumKnown(values: ReadonlyArray<number | null>): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) : null;
}

function rate(count: number, seconds: number): number {
  return seconds > 0 ? round(count / seconds, 2) : 0;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function isPositive(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0;
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0;
}

/** The human form of a report: one table of runs with a total line, items per state, the ETA. */
export function formatThroughput(report: ThroughputReport): string {
  const out: string[] = [];
  const scope = report.filter.length ? ` that touched ${report.filter.join(', ')}` : '';
  if (report.runs.length === 0) {
    out.push(`No runs${scope} yet: nexus-backfill run${report.filter.length ? ` ${report.filter.join(' ')}` : ''} starts one.`);
  } else {
    const t = report.totals;
    out.push(`Throughput of ${t.runs} run${t.runs === 1 ? '' : 's'}${scope}: ${num(t.requests)} requests and ${num(t.items_done)} items done in ${seconds(t.elapsed_s)} of running (${seconds(t.span_s)} from first start to last end).`);
    out.push('');
    const head = ['run', 'started', 'outcome', 'elapsed', 'requests', 'req/s', 'quota', 'items', 'items/s', '429', '5xx+net', 'retries', 'refreshes', 'p50/p95/p99 ms', 'jobs'];
    const rows = report.runs.map((r) => [
      r.run_id,
      r.started_at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      r.outcome ?? 'unfinished',
      seconds(r.elapsed_s),
      num(r.requests),
      r.requests_per_s.toFixed(1),
      r.quota_share === null ? 'no limit' : `${(r.quota_share * 100).toFixed(1)}%`,
      num(r.items_done),
      r.items_per_s.toFixed(1),
      num(r.responses['429']),
      num(r.responses['5xx'] + r.responses.network),
      r.retries === null ? '-' : num(r.retries),
      r.token_refreshes === null ? '-' : num(r.token_refreshes),
      `${r.latency_ms.p50}/${r.latency_ms.p95}/${r.latency_ms.p99}`,
      r.jobs.join(','),
    ]);
    rows.push([
      'total',
      '',
      '',
      seconds(t.elapsed_s),
      num(t.requests),
      t.requests_per_s.toFixed(1),
      '',
      num(t.items_done),
      t.items_per_s.toFixed(1),
      num(t.responses['429']),
      num(t.responses['5xx'] + t.responses.network),
      t.retries === null ? '-' : num(t.retries),
      t.token_refreshes === null ? '-' : num(t.token_refreshes),
      `${t.latency_ms.p50}/${t.latency_ms.p95}/${t.latency_ms.p99}`,
      '',
    ]);
    out.push(...table(head, rows, [0, 1, 2, 14]));
    if (report.runs.some((r) => r.retries === null)) out.push('', "  - : not in the run's stored summary (a run that was killed or is still running has none).");
  }
  const jobs = Object.entries(report.items);
  if (jobs.length) {
    out.push('', 'Items now:');
    const states = ['pending', 'inflight', 'done', 'failed', 'dead', 'invalid'] as const;
    const rows = jobs.map(([name, c]) => [name, ...states.map((s) => num(c[s])), num(states.reduce((a, s) => a + c[s], 0))]);
    out.push(...table(['job', ...states, 'total'], rows, [0]));
  }
  const e = report.eta;
  if (e.pending > 0) {
    const at = e.basis === 'limits' ? `at ${e.windows.join(' and ')}` : e.basis === 'recent' ? `at the last run's pace, below ${e.windows.length ? e.windows.join(' and ') : 'no limit'}` : 'with no limit and no run to measure';
    out.push('', `ETA for ${num(e.pending)} items left: ${formatEta(e.seconds)} ${at}${e.items_per_s ? ` (${e.items_per_s} items/s)` : ''}. Send them: nexus-backfill run${report.filter.length ? ` ${report.filter.join(' ')}` : ''}`);
  }
  return out.join('\n');
}

function table(head: string[], rows: string[][], leftAligned: number[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `  ${r.map((cell, i) => (leftAligned.includes(i) ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}`.trimEnd();
  return [line(head), ...rows.map(line)];
}

function num(n: number): string {
  return n.toLocaleString('en-US');
}

function seconds(s: number): string {
  return s < 600 ? `${s.toFixed(1)} s` : formatEta(s);
}
