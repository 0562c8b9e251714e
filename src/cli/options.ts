/** Options every command takes (docs/cli.md), with their env fallbacks. */
import type { Options } from 'yargs';
import { DEFAULT_DB } from '../command-lines.js';

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

/** Why a file the user named (--html, --output) could not be written, in words. */
export function writeFailure(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'its directory does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return (err as Error).message;
}
