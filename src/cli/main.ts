#!/usr/bin/env node
/**
 * The CLI entry point and the only place that maps results and errors to exit
 * codes (docs/cli.md). Commands live in ./commands, one file each, and return
 * an exit code; they throw NexusError subclasses for everything else.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { isNexusError, UsageError } from '../errors.js';
import { globalOptions } from './options.js';
import { commands } from './commands/index.js';

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const parser = yargs(argv)
    .scriptName('nexus-backfill')
    .usage('$0 <command> [options]\n\nMoves large exports (Zendesk migrations, backfills) into the NexusCore API,\nresumably, within the workspace quota, with nothing created twice.')
    .options(globalOptions)
    .strict()
    .strictCommands()
    .demandCommand(1, 'Name a command: `nexus-backfill --help` lists them, `nexus-backfill <command> --help` explains one.')
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .epilogue('Credentials come from the environment only: NEXUSCORE_CLIENT_ID with NEXUSCORE_CLIENT_SECRET\n(or --client-secret-file), or NEXUSCORE_API_KEY (or --api-key-file).')
    .fail((msg, err) => {
      if (err) throw err;
      // Thrown, not just noted: yargs goes on to run the command after a fail() that returns,
      // and a mistyped --dry-run must not start a real migration.
      throw new UsageError(`${msg}\nRun with --help for usage.`);
    })
    .help()
    .alias('help', 'h')
    .version();
  for (const command of commands) {
    parser.command({
      ...command,
      handler: async (args: any) => {
        exitCode = await command.handler(args);
      },
    } as any);
  }
  try {
    await parser.parseAsync();
  } catch (err) {
    // The reader of our output went away (`| head`): what it wanted it has; not an error of ours.
    if (isBrokenPipe(err)) return exitCode;
    if (isNexusError(err)) {
      process.stderr.write(`nexus-backfill: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`nexus-backfill: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
  return exitCode;
}

function isBrokenPipe(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

// Writes after the reader closed the pipe fail with EPIPE, emitted on the stream: without a listener
// that is an uncaught exception and a stack trace. A run piped into `head` still finishes and records.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (!isBrokenPipe(err)) throw err;
  });
}

main(hideBin(process.argv)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`nexus-backfill: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
