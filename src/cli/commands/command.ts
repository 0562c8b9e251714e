import type { Argv } from 'yargs';
import { UsageError } from '../../errors.js';

/** A CLI command: yargs wiring plus a handler that returns the process exit code. */
export interface CommandSpec {
  command: string;
  describe: string;
  builder?: (y: Argv) => Argv<any>;
  handler: (args: any) => Promise<number>;
}

/**
 * Refuses job names the store holds no items of (a typo would otherwise "succeed" at doing nothing),
 * naming the jobs it does hold.
 */
export function requireStagedJobs(counts: Record<string, unknown>, names: readonly string[]): void {
  const staged = Object.keys(counts);
  const unknown = names.filter((n) => !staged.includes(n));
  if (unknown.length === 0) return;
  throw new UsageError(
    `The store holds no items of ${unknown.join(', ')}. ${staged.length ? `Jobs with items: ${staged.join(', ')}.` : 'Nothing is staged yet: nexus-backfill load <job> <file..>.'} Check the name, or point --db at the store you mean.`,
  );
}
