/**
 * `load <job> <file..>`: stages export files into the checkpoint store (docs/cli.md, Staging).
 *
 * Signals: the first SIGINT/SIGTERM stops reading, commits what was staged
 * (whole records, a prefix of the files), releases the writer lock, says on
 * stderr what was staged and exits 130; loading the same files again adds
 * exactly the rest. A second one exits at once (what was staged since the
 * last commit is dropped, as after a kill -9: loading again is still safe).
 */
import type { Argv } from 'yargs';
import type { CommandSpec } from './command.js';
import { dbFlag } from '../../command-lines.js';
import type { GlobalArgs } from '../options.js';
import { openStore } from '../../store/index.js';
import { findJob, loadJobs } from '../../sources/job-loader.js';
import { defaultParserThreads, MAX_WORKERS, stageFiles, type StageReport } from '../../sources/stage.js';
import { UsageError } from '../../errors.js';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

export interface LoadOptions {
  db: string;
  jobsDir?: string | undefined;
  job: string;
  files: string[];
  workers?: number;
  progress?: (records: number) => void;
  /** Stops the load (see stageFiles): what was staged is committed, the report says `interrupted`. */
  signal?: AbortSignal;
}

export async function loadFiles(opts: LoadOptions): Promise<StageReport> {
  const jobs = await loadJobs({ jobsDir: opts.jobsDir });
  const job = findJob(jobs, opts.job);
  for (const f of opts.files) {
    if (!existsSync(f) || !statSync(f).isFile()) {
      throw new UsageError(`Cannot read the export file ${f}: no such file. Check the path (nothing was staged).`);
    }
  }
  // Stopped before anything was opened: nothing to stage, nothing to create.
  if (opts.signal?.aborted) return { job: job.job.name, counts: { new: 0, unchanged: 0, changed: 0, invalid: 0 }, files: [], interrupted: true };
  const store = openStore(opts.db, { mode: 'writer', command: 'load' });
  try {
    return await stageFiles({
      store,
      job,
      // Recorded with each item (export-failed, status): absolute, so it names the file from any directory.
      files: opts.files.map((f) => path.resolve(f)),
      ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
      ...(opts.progress ? { onProgress: opts.progress } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } finally {
    store.close();
  }
}

/** `--workers` as given: a whole number from 1 to MAX_WORKERS, else a usage error (nothing staged yet). */
function checkWorkers(args: { workers?: unknown }): number | undefined {
  const workers = args.workers;
  if (workers === undefined && !('workers' in args)) return undefined;
  if (typeof workers === 'number' && Number.isInteger(workers) && workers >= 1 && workers <= MAX_WORKERS) return workers;
  const got = typeof workers === 'number' && !Number.isNaN(workers) ? `\`${workers}\`` : Array.isArray(workers) ? `${workers.length} values (give it once)` : workers === undefined ? 'no value' : 'something that is not a number';
  throw new UsageError(`Expected --workers to be a whole number from 1 to ${MAX_WORKERS} (parser threads), got ${got}.`);
}

export const loadCommand: CommandSpec = {
  command: 'load <job> <files..>',
  describe: 'Stage export files (NDJSON, JSON array, API pages; .gz too) for a job into the checkpoint store',
  builder: (y: Argv) =>
    y
      .positional('job', { type: 'string', describe: 'Job name (see nexus-backfill jobs)' })
      .positional('files', { type: 'string', array: true, describe: 'Export files' })
      .option('workers', {
        type: 'number',
        describe: `Parser threads, a whole number from 1 to ${MAX_WORKERS}`,
        defaultDescription: `${defaultParserThreads()} here (one per core but one for the writer, at most ${MAX_WORKERS})`,
      })
      .example('$0 load zendesk-organizations organizations.json', 'Stage an export; loading it again adds nothing')
      .example('$0 load zendesk-tickets tickets-*.json.gz --json', 'Several files (gzip too), counts as JSON')
      .example('$0 load zendesk-brands brands.json', 'Zendesk brands, for mapping tickets to NexusCore brands by subdomain'),
  handler: async (args: GlobalArgs & { job: string; files: string[]; workers?: number }) => {
    const workers = checkWorkers(args);
    const tty = process.stderr.isTTY && !args.json;
    const started = Date.now();
    const stop = new AbortController();
    let signal: NodeJS.Signals | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
      if (signal === undefined) {
        // Stops at the next batch; the summary line comes once what was staged is committed and the store closed.
        signal = sig;
        stop.abort(new Error(`stopped by ${sig}`));
      } else {
        process.stderr.write(`${tty ? '\r\x1b[K' : ''}${sig}, a second signal: quitting now; records staged since the last commit are dropped. Run the same command to finish the job.\n`);
        process.exit(130);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let report: StageReport;
    try {
      report = await loadFiles({
        db: args.db,
        jobsDir: args['jobs-dir'],
        job: args.job,
        files: args.files,
        ...(workers !== undefined ? { workers } : {}),
        ...(tty ? { progress: (n: number) => process.stderr.write(`\rstaged ${n.toLocaleString('en-US')} records`) } : {}),
        signal: stop.signal,
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (tty) process.stderr.write('\r\x1b[K');
    const elapsedS = (Date.now() - started) / 1000;
    const c = report.counts;
    if (args.json) {
      process.stdout.write(
        `${JSON.stringify({ jobs: { [report.job]: c }, files: report.files, elapsed_s: Number(elapsedS.toFixed(3)), ...(report.interrupted ? { interrupted: true } : {}) })}\n`,
      );
    } else if (!report.interrupted) {
      for (const f of report.files) {
        process.stdout.write(
          `${f.file} (${f.format}): ${f.records.toLocaleString('en-US')} records${f.invalid ? `, ${f.invalid} invalid` : ''}${f.cleared ? `; ${f.cleared} invalid line(s) of an earlier load of it, since corrected or removed, dropped` : ''}\n`,
        );
      }
      process.stdout.write(`${report.job}: ${c.new} new, ${c.unchanged} unchanged, ${c.changed} changed, ${c.invalid} invalid (${elapsedS.toFixed(1)} s)\n`);
      if (c.invalid) process.stdout.write(`Invalid records are kept with their file, line and reason: nexus-backfill export-failed ${report.job}${dbFlag(args.db)}\n`);
    }
    // Every record invalid is most often the wrong file for the job (tickets loaded as users).
    for (const f of report.files) {
      if (f.records > 0 && f.invalid === f.records) {
        process.stderr.write(
          `warning: every record of ${f.file} (${f.records.toLocaleString('en-US')}) is invalid for ${report.job}. Is it the export of that job? nexus-backfill jobs lists the jobs; nexus-backfill export-failed ${report.job}${dbFlag(args.db)} shows why.\n`,
        );
      }
    }
    if (report.interrupted) {
      const fmt = (k: number) => k.toLocaleString('en-US');
      const n = report.files.reduce((s, f) => s + f.records, 0);
      const where = args.files.length > 1 ? `, stopped in file ${Math.max(1, report.files.length)} of ${args.files.length} (${report.files.at(-1)?.file ?? args.files[0]})` : '';
      process.stderr.write(
        `${signal ?? 'Signal'}: load stopped; ${fmt(n)} records of ${report.job} staged and committed (${fmt(c.new)} new, ${fmt(c.unchanged)} unchanged, ${fmt(c.changed)} changed, ${fmt(c.invalid)} invalid)${where}. ` +
          `Run the same command again to finish the job: records staged already are unchanged and add nothing. Until a load of ${report.job} finishes, nexus-backfill run refuses it (a record that comes again later in these files may still hold its older copy).\n`,
      );
      return 130;
    }
    return 0;
  },
};
