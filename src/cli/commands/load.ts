/** `load <job> <file..>`: stages export files into the checkpoint store (docs/cli.md, Staging). */
import type { Argv } from 'yargs';
import type { CommandSpec } from './command.js';
import type { GlobalArgs } from '../options.js';
import { openStore } from '../../store/index.js';
import { findJob, loadJobs } from '../../sources/job-loader.js';
import { stageFiles, type StageReport } from '../../sources/stage.js';
import { UsageError } from '../../errors.js';
import { existsSync, statSync } from 'node:fs';

export interface LoadOptions {
  db: string;
  jobsDir?: string | undefined;
  job: string;
  files: string[];
  workers?: number;
  progress?: (records: number) => void;
}

export async function loadFiles(opts: LoadOptions): Promise<StageReport> {
  const jobs = await loadJobs({ jobsDir: opts.jobsDir });
  const job = findJob(jobs, opts.job);
  for (const f of opts.files) {
    if (!existsSync(f) || !statSync(f).isFile()) {
      throw new UsageError(`Cannot read the export file ${f}: no such file. Check the path (nothing was staged).`);
    }
  }
  const store = openStore(opts.db, { mode: 'writer', command: 'load' });
  try {
    return await stageFiles({ store, job, files: opts.files, ...(opts.workers !== undefined ? { workers: opts.workers } : {}), ...(opts.progress ? { onProgress: opts.progress } : {}) });
  } finally {
    store.close();
  }
}

export const loadCommand: CommandSpec = {
  command: 'load <job> <files..>',
  describe: 'Stage export files (NDJSON, JSON array, API pages; .gz too) for a job into the checkpoint store',
  builder: (y: Argv) =>
    y
      .positional('job', { type: 'string', describe: 'Job name (see nexus-backfill jobs)' })
      .positional('files', { type: 'string', array: true, describe: 'Export files' })
      .option('workers', { type: 'number', describe: 'Parser threads (default: one per core but one for the writer; at least 1, at most 2)' }),
  handler: async (args: GlobalArgs & { job: string; files: string[]; workers?: number }) => {
    const tty = process.stderr.isTTY && !args.json;
    const started = Date.now();
    const report = await loadFiles({
      db: args.db,
      jobsDir: args['jobs-dir'],
      job: args.job,
      files: args.files,
      ...(args.workers !== undefined ? { workers: args.workers } : {}),
      ...(tty ? { progress: (n: number) => process.stderr.write(`\rstaged ${n.toLocaleString('en-US')} records`) } : {}),
    });
    if (tty) process.stderr.write('\r\x1b[K');
    const elapsedS = (Date.now() - started) / 1000;
    const c = report.counts;
    if (args.json) {
      process.stdout.write(
        `${JSON.stringify({ jobs: { [report.job]: c }, files: report.files, elapsed_s: Number(elapsedS.toFixed(3)) })}\n`,
      );
    } else {
      for (const f of report.files) {
        process.stdout.write(`${f.file} (${f.format}): ${f.records.toLocaleString('en-US')} records${f.invalid ? `, ${f.invalid} invalid` : ''}\n`);
      }
      process.stdout.write(`${report.job}: ${c.new} new, ${c.unchanged} unchanged, ${c.changed} changed, ${c.invalid} invalid (${elapsedS.toFixed(1)} s)\n`);
      if (c.invalid) process.stdout.write(`Invalid records are kept with their file, line and reason: nexus-backfill export-failed ${report.job}\n`);
    }
    return 0;
  },
};
