/** `status [job..]`: items per state per job, the writer (if any) and the last runs. */
import type { Argv } from 'yargs';
import type { CommandSpec } from './command.js';
import type { GlobalArgs } from '../options.js';
import { openStore, type StateCounts, type RunInfo, type LockHolder } from '../../store/index.js';
import { DEFAULT_WINDOWS, ITEM_STATES } from '../../types.js';
import { formatWindow } from '../../duration.js';
import { estimateEta, formatEta, windowsOf, type Eta } from '../../report/throughput.js';

export interface StatusReport {
  jobs: Record<string, StateCounts>;
  runs: RunInfo[];
  writer: LockHolder | null;
  /** Time to send what is pending, at the last run's limits (or the defaults), or its pace when that was slower. */
  eta: Eta & { windows: string[] };
}

export function readStatus(db: string, jobs?: string[]): StatusReport {
  const store = openStore(db, { mode: 'reader' });
  try {
    const counts = store.counts(jobs && jobs.length ? jobs : undefined);
    const runs = store.listRuns(5);
    const last = runs.find((r) => r.summary);
    const windows = (last && windowsOf(last.options)) ?? [...DEFAULT_WINDOWS];
    const pace = (last?.summary as { items_per_s?: number } | undefined)?.items_per_s;
    const pending = Object.values(counts).reduce((a, c) => a + c.pending + c.inflight, 0);
    const eta = { ...estimateEta(pending, windows, pace), windows: windows.map(formatWindow) };
    return { jobs: counts, runs, writer: store.lockHolder(), eta };
  } finally {
    store.close();
  }
}

function table(jobs: Record<string, StateCounts>): string {
  const head = ['job', ...ITEM_STATES, 'total'];
  const rows = Object.entries(jobs).map(([name, c]) => [name, ...ITEM_STATES.map((s) => c[s].toLocaleString('en-US')), ITEM_STATES.reduce((a, s) => a + c[s], 0).toLocaleString('en-US')]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

export const statusCommand: CommandSpec = {
  command: 'status [jobs..]',
  describe: 'Items per state per job, the current writer and the last runs',
  builder: (y: Argv) => y.positional('jobs', { type: 'string', array: true, describe: 'Jobs to show (default: all with items)' }),
  handler: async (args: GlobalArgs & { jobs?: string[] }) => {
    const s = readStatus(args.db, args.jobs);
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ jobs: s.jobs, runs: s.runs.map((r) => ({ run_id: r.id, started_at: new Date(r.startedAt).toISOString(), finished_at: r.finishedAt === null ? null : new Date(r.finishedAt).toISOString(), outcome: r.outcome })), writer: s.writer, eta: s.eta })}\n`);
      return 0;
    }
    if (Object.keys(s.jobs).length === 0) process.stdout.write('No items staged yet: nexus-backfill load <job> <file..>\n');
    else process.stdout.write(`${table(s.jobs)}\n`);
    if (s.eta.seconds) {
      const basis = s.eta.basis === 'recent' ? "the last run's pace" : `the limits ${s.eta.windows.join(' and ')}`;
      process.stdout.write(`\nETA for what is pending: ${formatEta(s.eta.seconds)} at ${s.eta.items_per_s} items/s (${basis}); nexus-backfill run sends it.\n`);
    }
    if (s.writer) process.stdout.write(`\nIn use by nexus-backfill ${s.writer.command} (pid ${s.writer.pid} on ${s.writer.host}, since ${new Date(s.writer.since).toISOString()}).\n`);
    if (s.runs.length) {
      process.stdout.write('\nLast runs:\n');
      for (const r of s.runs) process.stdout.write(`  ${r.id}  ${new Date(r.startedAt).toISOString()}  ${r.outcome ?? 'running or interrupted'}\n`);
    }
    return 0;
  },
};
