/**
 * `run --dry-run`: maps and validates every pending item of the selected jobs
 * with the real job code and id map, sends nothing and changes nothing.
 * A parent that is itself pending counts as resolvable (it would be created
 * first in a real run); one that failed, is dead, invalid or absent is
 * reported as the failure the real run would record.
 */
import { openStore } from '../store/index.js';
import { loadJobs } from '../sources/job-loader.js';
import { brandMapFromFile, createBrandResolver } from './brands.js';
import { selectJobs } from './migrate.js';
import { createRefs } from './refs.js';
import { mapItem } from './run.js';

export interface DryRunReport {
  dry_run: true;
  jobs: Record<string, { would_create: number; would_update: number; would_fail: number }>;
  /** The first failures, with their reasons (at most `maxListed`). */
  failures: { key: string; file: string | null; line: number | null; reason: string }[];
  /** Requests a real run would send (creates and updates), and the least time the windows allow for them. */
  requests: number;
}

export async function dryRun(opts: { db: string; jobsDir?: string; jobs: readonly string[]; brandMap?: string; maxListed?: number }): Promise<DryRunReport> {
  const allJobs = await loadJobs({ jobsDir: opts.jobsDir });
  // Two read connections: one walks the items while the other answers refs.
  const items = openStore(opts.db, { mode: 'reader' });
  const lookups = openStore(opts.db, { mode: 'reader' });
  try {
    const selected = selectJobs(allJobs, opts.jobs, items.counts());
    const refs = createRefs(lookups, { dryRun: true });
    // A --brand-map is read and applied as a run would (a brand it lacks fails its tickets; an unreadable file
    // stops here); its subdomains stay unresolved, since resolving them asks NexusCore. Without one, brands
    // staged from Zendesk also need NexusCore's list: tickets map without brand_id, as when no mapping is in place.
    const brands = opts.brandMap ? createBrandResolver('file', brandMapFromFile(opts.brandMap, undefined)) : createBrandResolver('none', new Map());
    const report: DryRunReport = { dry_run: true, jobs: {}, failures: [], requests: 0 };
    const maxListed = opts.maxListed ?? 50;
    for (const { job } of selected) {
      const j = (report.jobs[job.name] = { would_create: 0, would_update: 0, would_fail: 0 });
      for (const item of items.iterateItems(job.name, ['pending', 'inflight'])) {
        try {
          mapItem(job, { ...item, payload: item.payload ?? 'null', hash: '', attempts: item.attempts, sends: item.sends, firstSentAt: 0 }, refs, brands);
          if (item.mode === 'update') j.would_update++;
          else j.would_create++;
          report.requests++;
        } catch (err) {
          j.would_fail++;
          const reason = err instanceof Error && /^(MissingReferenceError|ItemRejectedError)$/.test(err.name) ? err.message : `the job's map threw: ${(err as Error).message}`;
          if (report.failures.length < maxListed) report.failures.push({ key: item.key, file: item.file, line: item.line, reason });
        }
      }
    }
    return report;
  } finally {
    items.close();
    lookups.close();
  }
}
