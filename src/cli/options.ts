/** Options every command takes (docs/cli.md), with their env fallbacks. */
import path from 'node:path';
import type { Options } from 'yargs';

export const DEFAULT_DB = 'data/backfill.sqlite';
export const DEFAULT_BASE_URL = 'https://api.support.nexuscore.cloud';

export const globalOptions = {
  db: {
    type: 'string',
    describe: 'Checkpoint store (SQLite file)',
    default: process.env.NEXUS_BACKFILL_DB || DEFAULT_DB,
    defaultDescription: `$NEXUS_BACKFILL_DB or ${DEFAULT_DB}`,
    global: true,
  },
  'base-url': {
    type: 'string',
    describe: 'NexusCore API base URL (https only)',
    default: process.env.NEXUSCORE_BASE_URL || DEFAULT_BASE_URL,
    defaultDescription: `$NEXUSCORE_BASE_URL or ${DEFAULT_BASE_URL}`,
    global: true,
  },
  'ca-file': {
    type: 'string',
    describe: 'PEM file of an extra CA to trust, added to the system roots',
    default: process.env.NEXUSCORE_CA_FILE || undefined,
    defaultDescription: '$NEXUSCORE_CA_FILE or the system roots alone',
    global: true,
  },
  'jobs-dir': {
    type: 'string',
    describe: 'Directory of extra job definitions (.ts or .js)',
    default: process.env.NEXUS_BACKFILL_JOBS || undefined,
    defaultDescription: '$NEXUS_BACKFILL_JOBS or the bundled jobs/ only',
    global: true,
  },
  json: {
    type: 'boolean',
    describe: 'One JSON document on stdout; human text goes to stderr',
    default: false,
    global: true,
  },
} satisfies Record<string, Options>;

export interface GlobalArgs {
  db: string;
  'base-url': string;
  'ca-file'?: string;
  'jobs-dir'?: string;
  json: boolean;
}

/**
 * ` --db <path>` for a command we suggest, when the store is not the one that command would open without
 * it (the default, or $NEXUS_BACKFILL_DB): a suggestion pasted as printed must reach the same store.
 */
export function dbFlag(db: string): string {
  if (path.resolve(db) === path.resolve(process.env.NEXUS_BACKFILL_DB || DEFAULT_DB)) return '';
  return ` --db ${shellWord(db)}`;
}

/** Why a file the user named (--html, --output) could not be written, in words. */
export function writeFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'its directory does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return (err as Error).message;
}

/** The `load` that finishes an unfinished load of `job` (see Store.setUnfinishedLoad): the same files again. */
export function finishLoadCommand(job: string, files: readonly string[], db: string): string {
  return `nexus-backfill load ${job} ${files.map(shellWord).join(' ')}${dbFlag(db)}`;
}

/** `s` as one word of a POSIX shell command line: as it is when that is safe, else single-quoted. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
