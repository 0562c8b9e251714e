/**
 * `nexus-backfill report [job..]`: throughput across every run the store
 * remembers (or the runs that touched the named jobs). A text table by
 * default, one JSON document with --json, a self-contained HTML page with
 * --html FILE. Reads the store only (no lock): safe while a run is going on.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { UsageError } from '../../errors.js';
import { openStore, type MetricsRow } from '../../store/index.js';
import { computeThroughput, formatThroughput, selectRuns, type ThroughputReport } from '../../report/throughput.js';
import { renderHtml } from '../../report/html.js';
import { writeFailure, type GlobalArgs } from '../options.js';
import type { CommandSpec } from './command.js';

interface ReportArgs extends GlobalArgs {
  jobs?: string[];
  html?: string;
}

/** Every run the store keeps; listRuns takes a limit and a report wants them all. */
const ALL_RUNS = 1_000_000_000;

/** Reads what a report needs from the store at `db` and computes it; `demo` and tests call this directly. */
export function readThroughput(db: string, jobs: readonly string[] = [], now = Date.now()): ThroughputReport {
  const store = openStore(db, { mode: 'reader' });
  try {
    const runs = store.listRuns(ALL_RUNS);
    const selected = selectRuns(runs, jobs);
    // With a filter, read only the selected runs' rows: a long migration has one row per second of every run.
    const metrics: MetricsRow[] = jobs.length ? selected.flatMap((r) => store.readMetrics(r.id)) : store.readMetrics();
    return computeThroughput({ runs: selected, metrics, items: store.counts(jobs.length ? jobs : undefined), jobs, now });
  } finally {
    store.close();
  }
}

export const reportCommand: CommandSpec = {
  command: 'report [jobs..]',
  describe: 'Throughput across all runs: a table, --json for machines, --html FILE for a self-contained page with charts',
  builder: (y: Argv) =>
    y
      .positional('jobs', { type: 'string', array: true, describe: 'Only the runs that touched these jobs (default: every run)' })
      .option('html', { type: 'string', describe: 'Write a self-contained HTML page with charts to this file' })
      .example('$0 report', 'Every run: requests, rates, share of the quota, 429s, latency')
      .example('$0 report zendesk-tickets --html report.html', 'The runs that sent tickets, as a page to share')
      .example('$0 report --json', 'One JSON document for scripts'),
  handler: async (args: ReportArgs) => {
    const jobs = args.jobs ?? [];
    const report = readThroughput(args.db, jobs);
    // Human text goes to stderr when stdout holds the JSON document.
    const say = (text: string) => (args.json ? process.stderr : process.stdout).write(`${text}\n`);
    const unknown = jobs.filter((j) => !report.runs.some((r) => r.jobs.includes(j)) && Object.values(report.items[j] ?? {}).every((n) => n === 0));
    if (unknown.length) {
      // An empty report with exit 0 would pass a typo off as a job that did nothing.
      throw new UsageError(`No run touched ${unknown.join(', ')} and the store holds no items for ${unknown.length === 1 ? 'it' : 'them'}: check the name (nexus-backfill status lists the jobs with items).`);
    }
    if (args.html !== undefined) {
      const file = path.resolve(args.html);
      writePrivate(file, renderHtml(report));
      say(`Wrote the throughput report of ${report.runs.length} run${report.runs.length === 1 ? '' : 's'} to ${file}`);
    }
    if (args.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else if (args.html === undefined) say(formatThroughput(report));
    return 0;
  },
};

/**
 * Writes with mode 0600, like every file this tool writes: the page tells
 * what a workspace migrated and when. `mode` applies only when the file is
 * created, so an existing file is narrowed too.
 */
function writePrivate(file: string, text: string): void {
  try {
    writeFileSync(file, text, { mode: 0o600 });
    chmodSync(file, 0o600);
  } catch (err) {
    throw new UsageError(`Could not write the HTML report to ${file}: ${writeFailure(err)}. Pass --html with a path in a writable directory.`, { cause: err });
  }
}
