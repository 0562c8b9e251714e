/** `jobs`: the job definitions found (bundled and --jobs-dir), with scopes and dependencies. */
import path from 'node:path';
import type { Argv } from 'yargs';
import type { CommandSpec } from './command.js';
import type { GlobalArgs } from '../options.js';
import { loadJobs } from '../../sources/job-loader.js';

export const jobsCommand: CommandSpec = {
  command: 'jobs',
  describe: 'List the job definitions found, with their scopes and dependencies',
  builder: (y: Argv) =>
    y
      .example('$0 jobs', 'The bundled Zendesk jobs')
      .example('$0 jobs --jobs-dir ./my-jobs', 'Yours too: a file that is not a valid job is named with what is wrong'),
  handler: async (args: GlobalArgs) => {
    const jobs = await loadJobs({ jobsDir: args['jobs-dir'] });
    const list = jobs.map(({ job, file, bundled }) => ({
      name: job.name,
      resource: job.resource,
      scopes: job.scopes,
      depends_on: job.dependsOn ?? [],
      stage_only: job.stageOnly === true,
      source: bundled ? 'bundled' : path.relative(process.cwd(), file),
    }));
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ jobs: list })}\n`);
      return 0;
    }
    const w = Math.max(...list.map((j) => j.name.length), 4);
    for (const j of list) {
      process.stdout.write(
        `${j.name.padEnd(w)}  scopes: ${j.scopes.join(' ')}  depends on: ${j.depends_on.join(', ') || '-'}${j.stage_only ? '  (staged for lookup, never sent)' : ''}${j.source === 'bundled' ? '' : `  [${j.source}]`}\n`,
      );
    }
    return 0;
  },
};
