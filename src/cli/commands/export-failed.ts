/** `nexus-backfill export-failed <job>`: every failed, dead and invalid item as NDJSON with its last error. */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Argv } from 'yargs';
import { openStore } from '../../store/index.js';
import type { GlobalArgs } from '../options.js';
import type { CommandSpec } from './command.js';

interface ExportArgs extends GlobalArgs {
  job: string;
  output?: string;
}

export const exportFailedCommand: CommandSpec = {
  command: 'export-failed <job>',
  describe: 'Write every failed, dead and invalid item of a job as NDJSON with its source line and last error',
  builder: (y: Argv) =>
    y
      .positional('job', { type: 'string', demandOption: true, describe: 'The job to export' })
      .option('output', { alias: 'o', type: 'string', describe: 'Write to this file instead of stdout' })
      .example('$0 export-failed zendesk-tickets > failed.ndjson', 'One JSON object per line: key, state, file, line, status, code, message'),
  handler: async (args: ExportArgs) => {
    const store = openStore(args.db, { mode: 'reader' });
    const out: Writable = args.output ? createWriteStream(args.output, { mode: 0o600 }) : process.stdout;
    let n = 0;
    try {
      for (const item of store.iterateItems(args.job, ['failed', 'dead', 'invalid'])) {
        const line = JSON.stringify({
          key: item.key,
          state: item.state,
          file: item.file,
          line: item.line,
          ...(item.index !== null ? { index: item.index } : {}),
          status: item.error?.status ?? null,
          code: item.error?.code ?? null,
          message: item.error?.message ?? item.reason ?? null,
          ...(item.error?.body ? { body: item.error.body } : {}),
          sends: item.sends,
          attempts: item.attempts,
        });
        if (!out.write(`${line}\n`)) await once(out, 'drain');
        n++;
      }
    } finally {
      store.close();
      if (args.output) {
        out.end();
        await once(out, 'finish');
      }
    }
    process.stderr.write(
      n > 0
        ? `${n} item(s) of ${args.job} need attention${args.output ? ` (written to ${args.output})` : ''}. Fix the cause, then: nexus-backfill retry ${args.job}\n`
        : `No failed, dead or invalid items in ${args.job}.\n`,
    );
    return 0;
  },
};
