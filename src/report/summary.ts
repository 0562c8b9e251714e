/** The human form of a run's summary (the --json form is the object itself). */
import type { RunSummary } from '../engine/migrate.js';

export function formatRunSummary(s: RunSummary): string {
  const lines: string[] = [];
  const verdict = {
    completed: 'Run completed: every item is done.',
    partial: 'Run ended with items left that need attention.',
    interrupted: 'Run interrupted after a clean checkpoint: run the same command again to resume.',
    auth_failed: 'Run stopped: authentication or authorization needs a person.',
  }[s.outcome];
  lines.push(s.outcome === 'partial' && s.error && s.requests === 0 ? 'Run stopped before sending anything.' : verdict);
  if (s.error) lines.push(`  ${s.error}`);
  lines.push('');
  lines.push(`  ${'job'.padEnd(24)}${['pending', 'done', 'failed', 'dead', 'invalid'].map((h) => h.padStart(9)).join('')}`);
  for (const [name, c] of Object.entries(s.jobs)) {
    lines.push(`  ${name.padEnd(24)}${[c.pending, c.done, c.failed, c.dead, c.invalid].map((n) => String(n).padStart(9)).join('')}`);
  }
  lines.push('');
  lines.push(
    `  ${s.items_done} items done in ${s.elapsed_s.toFixed(1)} s (${s.items_per_s} items/s); ${s.requests} requests (${s.requests_per_s}/s, ${(s.quota_share * 100).toFixed(1)}% of what the configured --limit windows allow)`,
  );
  lines.push(
    `  responses: ${s.responses['2xx']} 2xx, ${s.responses['4xx']} 4xx, ${s.responses['429']} 429, ${s.responses['5xx']} 5xx, ${s.responses.network} network errors; ${s.retries} retries; ${s.token_refreshes} token refreshes`,
  );
  lines.push(`  latency p50 ${s.latency_ms.p50} ms, p95 ${s.latency_ms.p95} ms, p99 ${s.latency_ms.p99} ms`);
  const failedJobs = Object.entries(s.jobs).filter(([, c]) => c.failed + c.dead + c.invalid > 0);
  if (failedJobs.length) {
    lines.push('');
    for (const [name, c] of failedJobs) {
      // Failed and dead items go back with retry; invalid ones were never sent and need a corrected export.
      const next = [
        ...(c.failed + c.dead > 0 ? [`after fixing the cause: nexus-backfill retry ${name} --db ${s.db}`] : []),
        ...(c.invalid > 0 ? [`correct the invalid lines in the export and load it again`] : []),
      ];
      lines.push(`  ${name}: ${c.failed} failed, ${c.dead} dead, ${c.invalid} invalid. See why: nexus-backfill export-failed ${name} --db ${s.db}; ${next.join('; ')}`);
    }
  }
  return lines.join('\n');
}
