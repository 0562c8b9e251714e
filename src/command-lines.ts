/**
 * The nexus-backfill command lines that messages suggest ("run the same load
 * again: ..."), from whichever layer finds the problem: pasted as printed,
 * they must reach the same store. Here rather than in cli/, which nothing
 * imports (docs/architecture.md).
 */
import path from 'node:path';

/** The store a command opens without --db or $NEXUS_BACKFILL_DB. */
export const DEFAULT_DB = 'data/backfill.sqlite';

/**
 * ` --db <path>` for a command we suggest, when the store is not the one that command would open without
 * it (the default, or $NEXUS_BACKFILL_DB): a suggestion pasted as printed must reach the same store.
 */
export function dbFlag(db: string): string {
  if (path.resolve(db) === path.resolve(process.env.NEXUS_BACKFILL_DB || DEFAULT_DB)) return '';
  return ` --db ${shellWord(db)}`;
}

/** The `load` that finishes an unfinished load of `job` (see Store.setUnfinishedLoad): the same files again. */
export function finishLoadCommand(job: string, files: readonly string[], db: string): string {
  return `nexus-backfill load ${job} ${files.map(shellWord).join(' ')}${dbFlag(db)}`;
}

/** `s` as one word of a POSIX shell command line: as it is when that is safe, else single-quoted. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
