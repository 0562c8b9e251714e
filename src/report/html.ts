/**
 * The throughput report as one self-contained HTML page: inline CSS and
 * inline SVG charts drawn here, no script, no font, no URL of any kind, so
 * the file can be mailed, attached to a ticket or opened offline and shows
 * the same thing everywhere. Pure: report in, string out.
 *
 * The charts share one horizontal axis: seconds of running, runs laid end to
 * end (the idle time between runs is collapsed and each run start is marked),
 * so a migration of many short runs over several days stays readable.
 */
import type { ResponseCounts } from '../store/index.js';
import { formatEta, type RunThroughput, type ThroughputReport, type TimelinePoint } from './throughput.js';

const WIDTH = 920;
const HEIGHT = 240;
const M = { left: 60, right: 16, top: 22, bottom: 34 };
const CLASSES: ReadonlyArray<{ key: keyof ResponseCounts; label: string; color: string }> = [
  { key: '2xx', label: '2xx', color: '#2e9e5b' },
  { key: '4xx', label: '4xx', color: '#e0a030' },
  { key: '429', label: '429', color: '#8a5cd1' },
  { key: '5xx', label: '5xx', color: '#d64545' },
  { key: 'network', label: 'network', color: '#7a7a7a' },
];
const SERIES = { requests: '#2f6fd6', items: '#e07b22', p50: '#6aa8e8', p95: '#2f6fd6', p99: '#16386e' };

export function renderHtml(report: ThroughputReport): string {
  const title = `nexus-backfill throughput${report.filter.length ? `: ${report.filter.join(', ')}` : ''}`;
  const t = report.totals;
  const body: string[] = [];
  body.push(`<h1>${esc(title)}</h1>`);
  body.push(`<p class="meta">Generated ${esc(report.generated_at)} from the checkpoint store. ${report.filter.length ? `Runs that touched ${esc(report.filter.join(', '))}.` : 'Every run.'}</p>`);
  if (report.runs.length === 0) {
    body.push(`<p>No runs yet. Start one with <code>nexus-backfill run${esc(report.filter.map((j) => ` ${j}`).join(''))}</code>.</p>`);
  } else {
    body.push(
      `<p class="headline"><b>${num(t.requests)}</b> requests and <b>${num(t.items_done)}</b> items done in <b>${esc(dur(t.elapsed_s))}</b> of running over ${t.runs} run${t.runs === 1 ? '' : 's'} (${esc(dur(t.span_s))} from first start to last end): <b>${t.requests_per_s.toFixed(1)}</b> requests/s, <b>${t.items_per_s.toFixed(1)}</b> items/s, latency p50/p95/p99 ${t.latency_ms.p50}/${t.latency_ms.p95}/${t.latency_ms.p99} ms.</p>`,
    );
    const axisEnd = timelineEnd(report.timeline.points);
    body.push('<h2>Requests and items done per second</h2>');
    body.push(legend([{ label: 'requests/s', color: SERIES.requests }, { label: 'items done/s', color: SERIES.items }]));
    body.push(rateChart(report.timeline.points, report.runs, axisEnd));
    body.push('<h2>Responses by class per second</h2>');
    body.push(legend(CLASSES));
    body.push(responsesChart(report.timeline.points, report.runs, axisEnd));
    body.push('<h2>Latency per run</h2>');
    body.push(legend([{ label: 'p50', color: SERIES.p50 }, { label: 'p95', color: SERIES.p95 }, { label: 'p99', color: SERIES.p99 }]));
    body.push(latencyChart(report.runs));
    if (report.timeline.bucket_s > 1) body.push(`<p class="note">Each point covers ${report.timeline.bucket_s} s of running.</p>`);
    body.push('<h2>Runs</h2>');
    body.push(runsTable(report));
  }
  const items = Object.entries(report.items);
  if (items.length) {
    body.push('<h2>Items per state now</h2>');
    body.push(itemsTable(report));
  }
  if (report.eta.pending > 0) {
    const e = report.eta;
    const basis = e.basis === 'limits' ? `at ${e.windows.join(' and ')}` : e.basis === 'recent' ? "at the last run's pace" : 'with no limit and no run to measure';
    body.push(`<p class="eta">ETA for ${num(e.pending)} items left: <b>${esc(formatEta(e.seconds))}</b> ${esc(basis)}${e.items_per_s ? ` (${e.items_per_s} items/s)` : ''}.</p>`);
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body.join('\n')}
</body>
</html>
`;
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; background: #fff; margin: 24px auto; max-width: 1000px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 6px; }
.meta, .note { color: #5b6475; font-size: 12px; } .headline, .eta { margin: 12px 0; }
svg { display: block; width: 100%; height: auto; background: #fafbfd; border: 1px solid #e3e7ee; border-radius: 4px; }
svg text { font: 11px system-ui, sans-serif; fill: #5b6475; } svg .grid { stroke: #e3e7ee; } svg .axis { stroke: #9aa3b2; }
svg .run { stroke: #9aa3b2; stroke-dasharray: 4 3; } svg .run-label { fill: #1d2330; font-weight: 600; }
.legend { display: flex; gap: 14px; font-size: 12px; margin: 2px 0 6px; } .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e3e7ee; text-align: right; white-space: nowrap; } th { background: #f2f4f8; }
th:first-child, td:first-child, td.l, th.l { text-align: left; } tr.total td { font-weight: 600; border-top: 2px solid #9aa3b2; }
code { background: #f2f4f8; padding: 1px 4px; border-radius: 3px; }
@media (prefers-color-scheme: dark) {
  body { color: #e4e8ef; background: #14171d; } svg { background: #1b1f27; border-color: #2c323d; } th { background: #222833; }
  th, td { border-color: #2c323d; } svg .grid { stroke: #2c323d; } svg .run-label { fill: #e4e8ef; } code { background: #222833; }
}`;

interface Frame {
  x: (s: number) => number;
  y: (v: number) => number;
  parts: string[];
}

/** Axes, grid and run marks shared by the two timeline charts. */
function timelineFrame(yMax: number, yLabel: string, runs: readonly RunThroughput[], axisEnd: number): Frame {
  const plotW = WIDTH - M.left - M.right;
  const plotH = HEIGHT - M.top - M.bottom;
  const end = Math.max(1, axisEnd);
  const x = (s: number) => M.left + (s / end) * plotW;
  const y = (v: number) => M.top + plotH - (v / yMax) * plotH;
  const parts: string[] = [];
  for (const tick of ticks(yMax)) {
    parts.push(`<line class="grid" x1="${M.left}" x2="${WIDTH - M.right}" y1="${f(y(tick))}" y2="${f(y(tick))}"/>`);
    parts.push(`<text x="${M.left - 6}" y="${f(y(tick) + 4)}" text-anchor="end">${esc(short(tick))}</text>`);
  }
  parts.push(`<text x="12" y="${f(M.top + plotH / 2)}" transform="rotate(-90 12 ${f(M.top + plotH / 2)})" text-anchor="middle">${esc(yLabel)}</text>`);
  for (const tick of timeTicks(end)) parts.push(`<text x="${f(x(tick))}" y="${HEIGHT - M.bottom + 16}" text-anchor="middle">${esc(dur(tick))}</text>`);
  parts.push(`<text x="${WIDTH - M.right}" y="${HEIGHT - 4}" text-anchor="end">time running (gaps between runs left out)</text>`);
  parts.push(`<line class="axis" x1="${M.left}" x2="${WIDTH - M.right}" y1="${f(y(0))}" y2="${f(y(0))}"/>`);
  runs.forEach((r, i) => {
    const rx = f(x(r.timeline_offset_s));
    parts.push(`<line class="run" x1="${rx}" x2="${rx}" y1="${M.top - 6}" y2="${f(y(0))}"><title>${esc(`${r.run_id}, started ${r.started_at}`)}</title></line>`);
    parts.push(`<text class="run-label" x="${f(x(r.timeline_offset_s) + 3)}" y="${M.top - 8}">#${i + 1}<title>${esc(r.run_id)}</title></text>`);
  });
  return { x, y, parts };
}

function rateChart(points: readonly TimelinePoint[], runs: readonly RunThroughput[], axisEnd: number): string {
  const yMax = niceMax(Math.max(0, ...points.map((p) => Math.max(p.requests_per_s, p.items_per_s))));
  const fr = timelineFrame(yMax, 'per second', runs, axisEnd);
  // One polyline per run and series: a line must not bridge the collapsed gap between two runs.
  for (const run of runs) {
    const own = points.filter((p) => p.run_id === run.run_id);
    for (const [key, color] of [['requests_per_s', SERIES.requests], ['items_per_s', SERIES.items]] as const) {
      const coords = own.flatMap((p) => [`${f(fr.x(p.offset_s))},${f(fr.y(p[key]))}`, `${f(fr.x(p.offset_s + p.width_s))},${f(fr.y(p[key]))}`]);
      if (coords.length) fr.parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6" stroke-linejoin="round" points="${coords.join(' ')}"/>`);
    }
  }
  return svg(fr.parts, 'Requests and items done per second over time, across runs');
}

function responsesChart(points: readonly TimelinePoint[], runs: readonly RunThroughput[], axisEnd: number): string {
  const perSecond = (p: TimelinePoint) => CLASSES.reduce((a, c) => a + p.responses[c.key], 0) / p.width_s;
  const yMax = niceMax(Math.max(0, ...points.map(perSecond)));
  const fr = timelineFrame(yMax, 'responses/s', runs, axisEnd);
  for (const p of points) {
    let base = 0;
    const x0 = fr.x(p.offset_s);
    const w = Math.max(0.5, fr.x(p.offset_s + p.width_s) - x0);
    for (const c of CLASSES) {
      const v = p.responses[c.key] / p.width_s;
      if (v <= 0) continue;
      const top = fr.y(base + v);
      fr.parts.push(`<rect x="${f(x0)}" y="${f(top)}" width="${f(w)}" height="${f(fr.y(base) - top)}" fill="${c.color}"><title>${esc(`${p.at}: ${p.responses[c.key]} × ${c.label}`)}</title></rect>`);
      base += v;
    }
  }
  return svg(fr.parts, 'Responses by class per second over time, stacked');
}

function latencyChart(runs: readonly RunThroughput[]): string {
  const plotW = WIDTH - M.left - M.right;
  const plotH = HEIGHT - M.top - M.bottom;
  const yMax = niceMax(Math.max(0, ...runs.map((r) => r.latency_ms.p99)));
  const y = (v: number) => M.top + plotH - (v / yMax) * plotH;
  const parts: string[] = [];
  for (const tick of ticks(yMax)) {
    parts.push(`<line class="grid" x1="${M.left}" x2="${WIDTH - M.right}" y1="${f(y(tick))}" y2="${f(y(tick))}"/>`);
    parts.push(`<text x="${M.left - 6}" y="${f(y(tick) + 4)}" text-anchor="end">${esc(short(tick))}</text>`);
  }
  parts.push(`<text x="12" y="${f(M.top + plotH / 2)}" transform="rotate(-90 12 ${f(M.top + plotH / 2)})" text-anchor="middle">ms (bucket upper bound)</text>`);
  const slot = plotW / Math.max(1, runs.length);
  const bar = Math.min(28, (slot * 0.8) / 3);
  runs.forEach((r, i) => {
    const cx = M.left + slot * (i + 0.5);
    (['p50', 'p95', 'p99'] as const).forEach((k, j) => {
      const v = r.latency_ms[k];
      const bx = cx + (j - 1.5) * bar;
      parts.push(`<rect x="${f(bx)}" y="${f(y(v))}" width="${f(bar - 1)}" height="${f(y(0) - y(v))}" fill="${SERIES[k]}"><title>${esc(`${r.run_id} ${k}: ${v} ms`)}</title></rect>`);
    });
    if (runs.length <= 40 || i % Math.ceil(runs.length / 40) === 0) parts.push(`<text x="${f(cx)}" y="${HEIGHT - M.bottom + 16}" text-anchor="middle">#${i + 1}<title>${esc(r.run_id)}</title></text>`);
  });
  parts.push(`<line class="axis" x1="${M.left}" x2="${WIDTH - M.right}" y1="${f(y(0))}" y2="${f(y(0))}"/>`);
  return svg(parts, 'Latency p50, p95 and p99 per run');
}

function runsTable(report: ThroughputReport): string {
  const head = ['#', 'run', 'started', 'jobs', 'outcome', 'elapsed', 'requests', 'requests/s', 'quota share', 'items done', 'items/s', '2xx', '4xx', '429', '5xx', 'network', 'retries', 'token refreshes', 'p50/p95/p99 ms'];
  const rows = report.runs.map((r, i) => {
    const quota = r.quota_share === null ? 'no limit' : `${(r.quota_share * 100).toFixed(1)}% of ${r.windows.join(' + ')}`;
    return `<tr><td>${i + 1}</td><td class="l">${esc(r.run_id)}</td><td class="l">${esc(r.started_at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}</td><td class="l">${esc(r.jobs.join(', '))}</td><td class="l">${esc(r.outcome ?? 'unfinished')}</td><td>${esc(dur(r.elapsed_s))}</td><td>${num(r.requests)}</td><td>${r.requests_per_s.toFixed(1)}</td><td>${esc(quota)}</td><td>${num(r.items_done)}</td><td>${r.items_per_s.toFixed(1)}</td>${CLASSES.map((c) => `<td>${num(r.responses[c.key])}</td>`).join('')}<td>${r.retries === null ? '–' : num(r.retries)}</td><td>${r.token_refreshes === null ? '–' : num(r.token_refreshes)}</td><td>${r.latency_ms.p50}/${r.latency_ms.p95}/${r.latency_ms.p99}</td></tr>`;
  });
  const t = report.totals;
  rows.push(
    `<tr class="total"><td></td><td class="l">total</td><td class="l" colspan="3">${t.runs} run${t.runs === 1 ? '' : 's'} over ${esc(dur(t.span_s))}</td><td>${esc(dur(t.elapsed_s))}</td><td>${num(t.requests)}</td><td>${t.requests_per_s.toFixed(1)}</td><td></td><td>${num(t.items_done)}</td><td>${t.items_per_s.toFixed(1)}</td>${CLASSES.map((c) => `<td>${num(t.responses[c.key])}</td>`).join('')}<td>${t.retries === null ? '–' : num(t.retries)}</td><td>${t.token_refreshes === null ? '–' : num(t.token_refreshes)}</td><td>${t.latency_ms.p50}/${t.latency_ms.p95}/${t.latency_ms.p99}</td></tr>`,
  );
  const unfinished = report.runs.some((r) => r.retries === null) ? '<p class="note">–: not in the run&#39;s stored summary (a run that was killed or is still running has none).</p>' : '';
  return `<div style="overflow-x:auto"><table><thead><tr>${head.map((h, i) => `<th${i > 0 && i < 5 ? ' class="l"' : ''}>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>${unfinished}`;
}

function itemsTable(report: ThroughputReport): string {
  const states = ['pending', 'inflight', 'done', 'failed', 'dead', 'invalid'] as const;
  const rows = Object.entries(report.items).map(
    ([job, c]) => `<tr><td>${esc(job)}</td>${states.map((s) => `<td>${num(c[s])}</td>`).join('')}<td>${num(states.reduce((a, s) => a + c[s], 0))}</td></tr>`,
  );
  return `<table><thead><tr><th>job</th>${states.map((s) => `<th>${s}</th>`).join('')}<th>total</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function legend(entries: ReadonlyArray<{ label: string; color: string }>): string {
  return `<div class="legend">${entries.map((e) => `<span><i style="background:${e.color}"></i>${esc(e.label)}</span>`).join('')}</div>`;
}

/** Inline SVG needs no xmlns in HTML; leaving it out keeps the page free of any URL. */
function svg(parts: readonly string[], label: string): string {
  return `<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${esc(label)}">${parts.join('')}</svg>`;
}

function timelineEnd(points: readonly TimelinePoint[]): number {
  return points.reduce((a, p) => Math.max(a, p.offset_s + p.width_s), 0);
}

/** A round axis maximum at or above `v` (1, 2, 2.5 or 5 times a power of ten); 1 for nothing. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Round steps of time (1, 2, 5, 10, 15, 30 s, minutes, hours...) that put 3 to 8 ticks on an axis `end` seconds long. */
function timeTicks(end: number): number[] {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400];
  const step = steps.find((st) => end / st <= 8) ?? niceMax(end / 8);
  const out: number[] = [];
  for (let t = 0; t <= end + 1e-9; t += step) out.push(t);
  return out;
}

function ticks(max: number): number[] {
  return [0, 0.25, 0.5, 0.75, 1].map((k) => k * max);
}

function short(v: number): string {
  if (v >= 1_000_000) return `${+(v / 1_000_000).toFixed(1)}M`;
  if (v >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  return `${+v.toFixed(2)}`;
}

function dur(s: number): string {
  if (s < 60) return `${+s.toFixed(1)} s`;
  return formatEta(s);
}

function num(n: number): string {
  return n.toLocaleString('en-US');
}

function f(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

/** Every string that reaches the page goes through here: job names and run ids are user data. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
