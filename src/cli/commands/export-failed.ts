/** `nexus-backfill export-failed <job>`: every failed, dead and invalid item as NDJSON with its last error. */
import { createWriteStream, fchmodSync, openSync } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Argv } from 'yargs';
import { UsageError } from '../../errors.js';
import { openStore } from '../../store/index.js';
import { dbFlag } from '../../command-lines.js';
import { writeFailure, type GlobalArgs } from '../options.js';
import { requireStagedJobs, type CommandSpec } from './command.js';

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
      .example('$0 export-failed zendesk-tickets > failed.ndjson', 'One JSON object per line: key, state, file, line, status, code, message')
      .example('$0 export-failed zendesk-tickets --json', 'The same as one JSON document: {"job", "items": [...]}'),
  handler: async (args: ExportArgs) => {
    const store = openStore(args.db, { mode: 'reader' });
    let out: Writable = process.stdout;
    if (args.output) {
      const file = path.resolve(args.output);
      try {
        // Opened here, so a path that cannot be written is an error now, not an 'error' event mid-export
        // ("unexpected error"). 0600 like every file this tool writes (the items hold customer data), also
        // when the file exists already.
        const fd = openSync(file, 'w', 0o600);
        fchmodSync(fd, 0o600);
        out = createWriteStream('', { fd });
      } catch (err) {
        store.close();
        throw new UsageError(`Could not write the failed items to ${file}: ${writeFailure(err)}. Pass --output with a path in a writable directory.`, { cause: err });
      }
    }
    const write = async (text: string) => {
      if (!out.write(text)) await once(out, 'drain');
    };
    // --json: one document, {"job", "items": [...]}, still written item by item (there may be millions).
    const asDocument = args.json && !args.output;
    const n = { failed: 0, dead: 0, invalid: 0 };
    try {
      requireStagedJobs(store.counts(), [args.job]);
      if (asDocument) await write(`{"job":${JSON.stringify(args.job)},"items":[`);
      let first = true;
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
        await write(asDocument ? `${first ? '' : ','}\n${line}` : `${line}\n`);
        first = false;
        n[item.state as keyof typeof n]++;
      }
      if (asDocument) await write(']}\n');
    } finally {
      store.close();
      if (args.output) {
        out.end();
        await once(out, 'finish');
      }
    }
    const total = n.failed + n.dead + n.invalid;
    const where = args.output ? ` (written to ${args.output})` : '';
    const next: string[] = [];
    if (n.failed + n.dead > 0) next.push(`fix the cause of the ${n.failed + n.dead} failed or dead, then: nexus-backfill retry ${args.job}${dbFlag(args.db)}`);
    // Invalid records were never sent: a corrected export fixes them, retry does not.
    if (n.invalid > 0) next.push(`correct the ${n.invalid} invalid line(s) in the export, then load it again: nexus-backfill load ${args.job} <file>${dbFlag(args.db)}`);
    process.stderr.write(total > 0 ? `${total} item(s) of ${args.job} need attention${where}. Next: ${next.join('; ')}.\n` : `No failed, dead or invalid items in ${args.job}.\n`);
    return 0;
  },
};
