/**
 * Opening a store file safely: permissions, foreign and corrupt files, the
 * schema version, the one-writer lock, and the translation of SQLite errors
 * into StoreError codes the CLI turns into exit 1.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, openSync, readSync, accessSync, constants, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StoreError } from '../errors.js';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './migrations.js';
import type { LockHolder } from './types.js';

const SQLITE_MAGIC = 'SQLite format 3\0';

/** Turns a SQLite (or fs) error into a StoreError with a message that says what to do; other errors pass through. */
export function translateError(err: unknown, file: string): unknown {
  if (err instanceof StoreError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return err;
  if (code.startsWith('SQLITE_FULL')) {
    return new StoreError(`The disk holding the checkpoint store ${file} is full; the last batch was rolled back and nothing was half-written. Free some space, then run the same command again.`, 'store_full', { cause: err });
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'EACCES' || code === 'EROFS' || code === 'EPERM') {
    return new StoreError(`The checkpoint store ${file} cannot be written (read-only file, directory or file system). Make it and its directory writable, or point --db at a writable path.`, 'store_readonly', { cause: err });
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new StoreError(`The checkpoint store ${file} is corrupt (${code}). Restore it from a backup, or move it aside and stage the export again with nexus-backfill load (done items will then be re-sent; the idempotency keys only cover 24 hours).`, 'store_corrupt', { cause: err });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StoreError(`The checkpoint store ${file} stayed busy: another process holds it. Wait for it to finish, then try again.`, 'store_locked', { cause: err });
  }
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN') || code === 'ENOSPC' || code === 'EIO') {
    if (code === 'ENOSPC' || code.startsWith('SQLITE_IOERR_WRITE') && /space/i.test(String((err as Error).message))) {
      return new StoreError(`The disk holding the checkpoint store ${file} is full. Free some space, then run the same command again.`, 'store_full', { cause: err });
    }
    return new StoreError(`The checkpoint store ${file} could not be read or written (${code}). Check the disk and the path given with --db.`, 'store_io', { cause: err });
  }
  return err;
}

/**
 * Opens the SQLite connection after checking the file, without touching the
 * schema. Creates the file (mode 0600) for a writer, unless `mustExist`; a
 * reader needs an existing store.
 */
export function openConnection(file: string, writer: boolean, busyTimeoutMs: number, mustExist = !writer): Database.Database {
  const exists = existsSync(file);
  if (!exists && mustExist) {
    throw new StoreError(`There is no checkpoint store at ${file} yet. Stage an export first (nexus-backfill load <job> <file..>), or point --db at your store.`, 'store_io');
  }
  if (exists && statSync(file).isDirectory()) {
    throw new StoreError(`--db points at ${file}, which is a directory. Give the path of a store file, e.g. ${path.join(file, 'backfill.sqlite')}.`, 'store_io');
  }
  if (writer) {
    try {
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      // Created here, 0600, so the store never exists with wider permissions.
      // SQLite gives the -wal and -shm files the mode of the database file.
      if (!exists) closeSync(openSync(file, 'wx', 0o600));
      accessSync(file, constants.R_OK | constants.W_OK);
      accessSync(path.dirname(file), constants.W_OK);
    } catch (err) {
      throw translateError(err, file);
    }
  }
  checkHeader(file);
  try {
    const db = new Database(file, { readonly: !writer, fileMustExist: true, timeout: busyTimeoutMs });
    return db;
  } catch (err) {
    throw translateError(err, file);
  }
}

/**
 * Rolls back the journal of a bulk load that was killed mid-commit (see Store.beginLoad), as SQLite does
 * on the first read of any read-write connection; a read-only one refuses with SQLITE_READONLY_ROLLBACK.
 * A journal is hot only when no live connection holds the store's write lock, so this never races a writer.
 */
export function rollBackHotJournal(file: string, busyTimeoutMs: number): void {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true, timeout: busyTimeoutMs });
    db.pragma('user_version', { simple: true });
  } catch (err) {
    const code = String((err as { code?: unknown }).code);
    if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN')) {
      throw new StoreError(
        `The checkpoint store ${file} holds the journal of a load that was stopped mid-write (${file}-journal), which must be rolled back before the store can be read, and this process cannot write the store or its directory. Run the same command as the store's owner, or any nexus-backfill load or run on it, which rolls the journal back.`,
        'store_readonly',
        { cause: err },
      );
    }
    throw translateError(err, file);
  } finally {
    db?.close();
  }
}

/** A non-empty file must start with SQLite's magic header, or it is not ours. */
function checkHeader(file: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(16);
    const n = readSync(fd, head, 0, 16, 0);
    if (n === 0) return;
    if (n < 16 || head.toString('latin1') !== SQLITE_MAGIC) {
      throw new StoreError(`${file} is not a nexus-backfill checkpoint store (it is not an SQLite database). Point --db at a store, or at a new path to start one.`, 'store_foreign');
    }
  } catch (err) {
    throw translateError(err, file);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Checks the application id and schema version, and (writer only) applies the
 * migrations this store lacks, each in its own transaction.
 */
export function prepareSchema(db: Database.Database, file: string, writer: boolean): void {
  const appId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const tables = (db.prepare(`SELECT count(*) AS n FROM sqlite_master`).get() as { n: number }).n;
  if (appId !== APPLICATION_ID) {
    if (appId === 0 && version === 0 && tables === 0) {
      if (!writer) {
        throw new StoreError(`The checkpoint store ${file} is empty. Stage an export first: nexus-backfill load <job> <file..>.`, 'store_io');
      }
    } else {
      throw new StoreError(`${file} is an SQLite database but not a nexus-backfill checkpoint store. Point --db at your store, or at a new path to start one.`, 'store_foreign');
    }
  }
  if (version > SCHEMA_VERSION) {
    throw new StoreError(`The checkpoint store ${file} was written by a newer nexus-backfill (schema ${version}; this version knows up to ${SCHEMA_VERSION}). Upgrade nexus-backfill (npm install nexus-backfill@latest) and run the command again; the store was not changed.`, 'store_newer');
  }
  if (version === SCHEMA_VERSION) return;
  if (!writer) {
    throw new StoreError(`The checkpoint store ${file} uses an older schema (${version}, current ${SCHEMA_VERSION}). Run a command that writes (nexus-backfill load or run) once to upgrade it.`, 'store_io');
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

/** Start time of a process from /proc (Linux), to tell a live holder from a reused pid; null elsewhere. */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Field 22 (starttime) comes after the parenthesised command name, which may contain spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

function holderAlive(holder: LockHolder & { procStart: string | null }): boolean {
  if (holder.host !== os.hostname()) return true; // cannot tell: assume it is alive
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (holder.procStart !== null) {
    const now = processStart(holder.pid);
    if (now !== null && now !== holder.procStart) return false; // the pid was reused
  }
  return true;
}

/** Takes the one-writer lock, or throws store_locked naming the live holder. Takes over a lock whose holder is gone. */
export function takeLock(db: Database.Database, file: string, command: string, now: number): void {
  const refuse = (row: LockHolder) =>
    new StoreError(
      `The checkpoint store ${file} is in use by another nexus-backfill ${row.command} (pid ${row.pid} on ${row.host}, since ${new Date(row.since).toISOString()}). Wait for it to finish or stop it; only one run or load may write to a store at a time.`,
      'store_locked',
    );
  // Read first: a reader gets in between the holder's commits at once, where the write transaction below has
  // to wait for a moment when the holder has none open (a load, in rollback-journal mode, nearly always has).
  const holder = readLock(db);
  if (holder) throw refuse(holder);
  db.transaction(() => {
    const row = readLock(db);
    if (row) throw refuse(row);
    db.prepare(`INSERT OR REPLACE INTO writer_lock (id, pid, host, proc_start, command, since) VALUES (1, ?, ?, ?, ?, ?)`).run(
      process.pid,
      os.hostname(),
      processStart(process.pid),
      command,
      now,
    );
  }).immediate();
}

export function releaseLock(db: Database.Database): void {
  db.prepare(`DELETE FROM writer_lock WHERE id = 1 AND pid = ? AND host = ?`).run(process.pid, os.hostname());
}

/** The live holder of the writer lock; null when there is none, or it is gone (killed, crashed): the next writer takes over. */
export function readLock(db: Database.Database): LockHolder | null {
  const row = db.prepare(`SELECT pid, host, proc_start AS procStart, command, since FROM writer_lock WHERE id = 1`).get() as
    | (LockHolder & { procStart: string | null })
    | undefined;
  if (!row || !holderAlive(row)) return null;
  return { pid: row.pid, host: row.host, command: row.command, since: row.since };
}
