/** `nexus-backfill retry <job>`: moves failed and dead items back to pending for the next run. */
import type { Argv } from 'yargs';
import { openStore } from '../../store/index.js';
import { dbFlag } from '../../command-lines.js';
import type { GlobalArgs } from '../options.js';
import { requireStagedJobs, type CommandSpec } from './command.js';

interface RetryArgs extends GlobalArgs {
  job: string;
  only?: 'failed' | 'dead';
}

export const retryCommand: CommandSpec = {
  command: 'retry <job>',
  describe: 'Move failed and dead items of a job back to pending (attempts reset); the next run sends them',
  builder: (y: Argv) =>
    y
      .positional('job', { type: 'string', demandOption: true, describe: 'The job whose items to retry' })
      .option('only', { choices: ['failed', 'dead'] as const, defaultDescription: 'both', describe: 'Only failed items (the API refused them) or only dead ones (retries ran out)' })
      .example('$0 retry zendesk-tickets', 'After fixing the cause (see export-failed), queue them again')
      .example('$0 retry zendesk-users --only dead', 'Only the items whose retries ran out'),
  handler: async (args: RetryArgs) => {
    const store = openStore(args.db, { mode: 'writer', command: 'retry', mustExist: true });
    try {
      const counts = store.counts();
      requireStagedJobs(counts, [args.job]);
      const moved = store.retry(args.job, args.only);
      // retry moves failed and dead items only: the invalid count is the same after it.
      const invalid = counts[args.job]!.invalid;
      if (args.json) process.stdout.write(`${JSON.stringify({ job: args.job, moved })}\n`);
      else {
        process.stdout.write(
          moved > 0
            ? `${moved} ${args.only ?? 'failed and dead'} item(s) of ${args.job} are pending again. Send them with: nexus-backfill run ${args.job}${dbFlag(args.db)}\n`
            : `No ${args.only ?? 'failed or dead'} items in ${args.job}: nothing to retry.\n`,
        );
      }
      // Invalid records were never sent: retry cannot fix them, a corrected export can.
      if (invalid > 0) {
        process.stderr.write(
          `${invalid} invalid item(s) of ${args.job} stay as they are: fix those lines in the export (nexus-backfill export-failed ${args.job}${dbFlag(args.db)} lists file, line and reason), then load it again.\n`,
        );
      }
      return 0;
    } finally {
      store.close();
    }
  },
};
