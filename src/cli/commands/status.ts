/** `status [job..]`: items per state per job, the writer (if any) and the last runs. */
import type { Argv } from 'yargs';
import { requireStagedJobs, type CommandSpec } from './command.js';
import { dbFlag, finishLoadCommand } from '../../command-lines.js';
import type { GlobalArgs } from '../options.js';
import { openStore, type StateCounts, type RunInfo, type LockHolder, type UnfinishedLoad } from '../../store/index.js';
import { DEFAULT_WINDOWS, ITEM_STATES } from '../../types.js';
import { formatWindow } from '../../duration.js';
import { estimateEta, formatEta, windowsOf, type Eta } from '../../report/throughput.js';
import { loadJobs, stageOnlyNames } from '../../sources/job-loader.js';

export interface StatusReport {
  jobs: Record<string, StateCounts>;
  runs: RunInfo[];
  writer: LockHolder | null;
  /** Time to send what is pending, at the last run's limits (or the defaults), or its pace when that was slower. */
  eta: Eta & { windows: string[] };
  /** Jobs whose items are staged for lookup only and never sent (the Zendesk brands export). */
  stageOnly: string[];
  /** Jobs shown whose last load has not finished (running, or stopped partway): `run` refuses them until one does. */
  unfinished: Record<string, UnfinishedLoad>;
}

/** Names of the stage-only jobs; the bundled ones when the user's job directory cannot be loaded (status still answers). */
async function stageOnlyJobs(jobsDir: string | undefined): Promise<Set<string>> {
  return stageOnlyNames(await loadJobs({ jobsDir }).catch(() => loadJobs()));
}

export async function readStatus(db: string, jobs?: string[], jobsDir?: string): Promise<StatusReport> {
  const stageOnly = await stageOnlyJobs(jobsDir);
  const store = openStore(db, { mode: 'reader' });
  try {
    const all = store.counts();
    if (jobs?.length) requireStagedJobs(all, jobs);
    const counts = jobs?.length ? Object.fromEntries(jobs.map((n) => [n, all[n]!])) : all;
    const runs = store.listRuns(5);
    const last = runs.find((r) => r.summary);
    const windows = (last && windowsOf(last.options)) ?? [...DEFAULT_WINDOWS];
    const pace = (last?.summary as { items_per_s?: number } | undefined)?.items_per_s;
    // Stage-only items stay pending for good: they are read by runs, never sent.
    const pending = Object.entries(counts).reduce((a, [name, c]) => (stageOnly.has(name) ? a : a + c.pending + c.inflight), 0);
    const eta = { ...estimateEta(pending, windows, pace), windows: windows.map(formatWindow) };
    const unfinished = Object.fromEntries(Object.entries(store.unfinishedLoads()).filter(([name]) => name in counts));
    return { jobs: counts, runs, writer: store.lockHolder(), eta, stageOnly: Object.keys(counts).filter((n) => stageOnly.has(n)), unfinished };
  } finally {
    store.close();
  }
}

function table(jobs: Record<string, StateCounts>, stageOnly: readonly string[]): string {
  const head = ['job', ...ITEM_STATES, 'total'];
  const rows = Object.entries(jobs).map(([name, c]) => [stageOnly.includes(name) ? `${name} *` : name, ...ITEM_STATES.map((s) => c[s].toLocaleString('en-US')), ITEM_STATES.reduce((a, s) => a + c[s], 0).toLocaleString('en-US')]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const lines = [line(head), ...rows.map(line)];
  if (stageOnly.length) lines.push('* staged for lookup by other jobs, never sent: its items stay pending');
  return lines.join('\n');
}

/** What became of a run: its outcome, or whether it is still going or ended without one. */
function runState(r: RunInfo, writer: LockHolder | null, db: string): string {
  if (r.outcome) return r.outcome;
  if (writer && writer.pid === r.pid && writer.host === r.host) return 'running';
  return `ended without finishing (killed or crashed); nexus-backfill run${dbFlag(db)} resumes it`;
}

export const statusCommand: CommandSpec = {
  command: 'status [jobs..]',
  describe: 'Items per state per job, the ETA of what is pending at the configured limits, the current writer and the last runs',
  builder: (y: Argv) =>
    y
      .positional('jobs', { type: 'string', array: true, describe: 'Jobs to show (default: all with items)' })
      .example('$0 status', 'Every job: items per state, the ETA of what is pending, the last runs')
      .example('$0 status zendesk-tickets --json', 'One job, as JSON (also while a run is going)'),
  handler: async (args: GlobalArgs & { jobs?: string[] }) => {
    const s = await readStatus(args.db, args.jobs, args['jobs-dir']);
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ jobs: s.jobs, runs: s.runs.map((r) => ({ run_id: r.id, started_at: new Date(r.startedAt).toISOString(), finished_at: r.finishedAt === null ? null : new Date(r.finishedAt).toISOString(), outcome: r.outcome })), writer: s.writer, eta: s.eta, stage_only: s.stageOnly, unfinished_loads: Object.fromEntries(Object.entries(s.unfinished).map(([job, l]) => [job, { files: l.files, started_at: new Date(l.startedAt).toISOString() }])) })}\n`);
      return 0;
    }
    if (Object.keys(s.jobs).length === 0) process.stdout.write('No items staged yet: nexus-backfill load <job> <file..>\n');
    else process.stdout.write(`${table(s.jobs, s.stageOnly)}\n`);
    const unfinished = Object.entries(s.unfinished);
    const it = unfinished.length === 1 ? 'it' : 'them';
    if (unfinished.length && s.writer?.command === 'load') {
      process.stdout.write(`\nBeing loaded: ${unfinished.map(([job]) => job).join(', ')}; nexus-backfill run refuses ${it} until the load finishes.\n`);
    } else if (unfinished.length) {
      // The ETA below counts these items too; say first why a run would refuse them.
      process.stdout.write(
        `\nThe last load of ${unfinished.map(([job]) => job).join(', ')} stopped before the end of its files, so nexus-backfill run refuses ${it} until a load of ${it} finishes. The same load again finishes it (staged records add nothing):\n${unfinished.map(([job, l]) => `  ${finishLoadCommand(job, l.files, args.db)}   (started ${new Date(l.startedAt).toISOString()})`).join('\n')}\n`,
      );
    }
    if (s.eta.seconds) {
      const basis = s.eta.basis === 'recent' ? "the last run's pace" : `the limits ${s.eta.windows.join(' and ')}`;
      const then = unfinished.length ? 'once that load finishes, ' : '';
      process.stdout.write(`\nETA for what is pending: ${formatEta(s.eta.seconds)} at ${s.eta.items_per_s} items/s (${basis}); ${then}nexus-backfill run${dbFlag(args.db)} sends it.\n`);
    }
    if (s.writer) process.stdout.write(`\nIn use by nexus-backfill ${s.writer.command} (pid ${s.writer.pid} on ${s.writer.host}, since ${new Date(s.writer.since).toISOString()}).\n`);
    if (s.runs.length) {
      process.stdout.write('\nLast runs:\n');
      for (const r of s.runs) process.stdout.write(`  ${r.id}  ${new Date(r.startedAt).toISOString()}  ${runState(r, s.writer, args.db)}\n`);
    }
    return 0;
  },
};
