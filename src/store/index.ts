/**
 * The checkpoint store: one SQLite file that holds a whole migration (staged
 * items, runs, per-second metrics, the source-to-target id map) and survives
 * kill -9 at any instant. The only module that speaks SQL.
 *
 * Durability: WAL with `synchronous = NORMAL`. A process crash (kill -9, OOM)
 * loses nothing that was committed; a power loss may lose the last few
 * commits but never corrupts the file. A lost outcome only means the item is
 * sent again, which its Idempotency-Key (the item key) makes safe, so the
 * fsync on every commit that FULL would cost buys nothing here. Staging keeps
 * NORMAL too: OFF saves only the fsyncs of checkpoints (measured ~10 % of a
 * bare blob-insert loop, less of a real load), while a power loss during a
 * checkpoint with OFF can leave the database file itself corrupt, not just
 * short of its last commits. A kill -9 never corrupts a WAL store either way.
 *
 * Bulk loads (beginLoad): in WAL mode every staged byte is written twice, to
 * the WAL and again by the checkpoint, and staging is mostly new rows. A
 * rollback journal does not journal pages appended past the end of the file,
 * so `load` switches to one for its duration and writes its records once:
 * 1,000,000 tickets staged 1.13-1.20x faster, alternating runs. TRUNCATE
 * empties the journal at a commit where DELETE removes it and creates it
 * again, with an fsync of the directory each time (~1.5 % faster). Its
 * commits fsync the journal before the database is touched (`synchronous =
 * FULL`: in this mode NORMAL leaves a small chance of a corrupt file after a
 * power loss, where in WAL it does not). A kill -9 leaves a hot journal that
 * the next connection rolls back (a reader too, see openStore), giving the
 * last commit; readers wait (busy timeout) during a commit instead of reading
 * beside it. The switch needs the store to itself: with another connection
 * open, the load stays WAL. With the rollback journal, the load also drops
 * the pages it committed from the OS page cache while its keys ascend
 * (page-cache.ts).
 *
 * Usage by the engine:
 * ```ts
 * const store = openStore(args.db, { mode: 'writer', command: 'run' });
 * try {
 *   store.recoverInflight(jobs);              // a crashed run's sends go first, same body
 *   const runId = store.startRun(jobs, options);
 *   const page = store.claimDue('zendesk-tickets', 500, clock.now());
 *   store.recordOutcomes({ outcomes, metrics });
 *   store.finishRun(runId, 'completed', summary);
 * } finally {
 *   store.close();
 * }
 * ```
 */
import { openConnection, prepareSchema, rollBackHotJournal, takeLock, translateError } from './open.js';
import { CheckpointStore } from './checkpoint-store.js';
import type {
  ClaimedItem,
  LockHolder,
  MetricsRow,
  OpenStoreOptions,
  OutcomeBatch,
  RefState,
  RunInfo,
  StageCounts,
  StageRecord,
  StateCounts,
  StoredItem,
  UnfinishedLoad,
} from './types.js';
import type { ItemState } from '../types.js';

export type * from './types.js';
export { lineKey } from './staging.js';
export { LATENCY_BUCKETS_MS, bucketOf, emptyHistogram, percentile } from './metrics.js';
export { SCHEMA_VERSION } from './migrations.js';

export interface Store {
  /** The store file. */
  readonly path: string;
  readonly mode: 'writer' | 'reader';

  /**
   * Stages the records of one file (or part of one) for `job`, in one
   * transaction. Per record (the item key is `<job>:<sourceId>`):
   * - new source id: a `pending` item (or `invalid` with its reason);
   * - same hash as staged: nothing changes (`unchanged`);
   * - changed content (a new key generation when the item's last error is
   *   one the server keeps under its key, see ClaimedItem.generation):
   *   a never-sent `pending` item takes it; a `done` item
   *   becomes a `pending` update (PATCH to its target id); a `failed` or
   *   `invalid` item becomes `pending` again; an item whose body was sent and
   *   whose outcome is unknown (`inflight`, a `pending` retry, `dead`) keeps
   *   that body and the change waits behind it, sent as an update once it is
   *   done (a different body under the same Idempotency-Key would be refused);
   * - content back to what NexusCore holds (the body last sent and done) for
   *   an item with a pending or refused change: `done` again, nothing to send;
   * - an invalid record whose id belongs to a `done` or sent item leaves that
   *   item alone and is kept under its line key (`!<file>:<line>`).
   * Writer only.
   */
  stage(job: string, file: string | null, records: readonly StageRecord[]): StageCounts;

  /**
   * Opens a write transaction that the following `stage()` calls join until
   * `commitStaging()`: `load` stages each parsed batch as it arrives, so
   * SQLite work interleaves with parsing, and commits every few thousand
   * records. A kill -9 leaves all or none of what was staged since the begin;
   * after an error in `stage()` the caller rolls back (rollbackStaging), as
   * the failed call may have staged part of its records. Writer only.
   */
  beginStaging(): void;
  /** Commits the transaction of `beginStaging()` (no-op when none is open). */
  commitStaging(): void;
  /** Rolls back the transaction of `beginStaging()` (no-op when none is open). */
  rollbackStaging(): void;
  /**
   * Puts the store in bulk-load mode for a `load`, outside any transaction: a rollback journal with
   * `synchronous = FULL` instead of the WAL (see the module comment), until `endLoad()` or `close()`.
   * Returns false, and the store stays in WAL mode, when another connection has the store open. Writer only.
   */
  beginLoad(): boolean;
  /** Back to WAL mode after `beginLoad()` (no-op otherwise). Writer only. */
  endLoad(): void;

  /**
   * Claims up to `limit` due items of `job` (`pending` with next attempt at or
   * before `now`, oldest due first) and marks them `inflight` in the same
   * transaction, counting one send and setting `firstSentAt` if unset. An
   * index walk over pending items only: its cost does not grow with done
   * items. Writer only.
   */
  claimDue(job: string, limit: number, now: number): ClaimedItem[];

  /**
   * Puts items a crashed run left `inflight` back to `pending`, due at once
   * (they sort before everything else), with the body they were sent with.
   * Call it once at the start of a run, before claiming. Returns how many.
   */
  recoverInflight(jobs?: readonly string[]): number;

  /**
   * Writes the outcomes of claimed items and per-second metrics in ONE
   * transaction. `done` sets the target id (the id map is a view of it); if a change was staged meanwhile,
   * the item becomes a pending update with the new body. `wait` and `release`
   * undo the send the claim counted. Outcomes for items that are no longer
   * `inflight` are ignored. The limiter state and the send log pruning
   * ride along when given (one commit per flush, not three). Writer only.
   */
  recordOutcomes(batch: OutcomeBatch): void;

  /**
   * State and NexusCore id of `<job>:<sourceId>`, for Refs. Prepared
   * statement plus a cache of done items. `absent` when it was never staged.
   */
  refState(job: string, sourceId: string): RefState;

  /** Items per state per job (every job with items, or the jobs named, zero-filled). */
  counts(jobs?: readonly string[]): Record<string, StateCounts>;

  /**
   * Items of a job in the given states, one at a time (state by state, in
   * staging order): never loads them all. The connection is busy while the
   * iteration runs: finish it before calling anything else on this store.
   */
  iterateItems(job: string, states: readonly ItemState[]): Generator<StoredItem>;

  /** One item by source id, or null. */
  getItem(job: string, sourceId: string): StoredItem | null;

  /**
   * The staged records of a job (all states but `invalid`), parsed, one at a
   * time: e.g. the Zendesk brands export for the brand resolver.
   */
  iterateRecords(job: string): Generator<{ sourceId: string; record: unknown }>;

  /** The earliest next-attempt time of the job's pending items, or null when none is pending. */
  nextDueAt(job: string): number | null;

  /**
   * Moves `failed` and/or `dead` items back to `pending` with attempts reset.
   * An item whose last error the server keeps under its key (a 4xx other
   * than 408/409/425/429) gets a new key generation (ClaimedItem.generation).
   * Returns how many. Writer only.
   */
  retry(job: string, only?: 'failed' | 'dead'): number;

  /** Records the start of a run; option keys that look secret are stored as `[redacted]`. Writer only. */
  startRun(jobs: readonly string[], options: unknown): string;
  finishRun(runId: string, outcome: string, summary: unknown): void;
  /** Runs, newest first. */
  listRuns(limit?: number): RunInfo[];
  /** Per-second metrics rows of one run, or of all runs, by time. */
  readMetrics(runId?: string): MetricsRow[];

  /**
   * Logs one send at `atMs` (epoch ms) durably: a prepared upsert into a tiny
   * table (one row per millisecond with a count), committed on its own, or
   * with the open transaction if there is one. It costs a few microseconds
   * and survives kill -9 (WAL: a committed write is in the OS's hands), so
   * the next run knows every send the server still counts, not only those
   * of the last limiter flush. Writer only.
   *
   * `count` logs that many sends at once (a block of reserved send slots,
   * see src/engine/send-ledger.ts); a negative count gives back unused
   * reservations of the row at `atMs` (never below zero, no new row).
   */
  recordSend(atMs: number, count?: number): void;

  /** Send times logged at or after `sinceMs`, ascending (one entry per send). */
  recentSends(sinceMs: number): number[];

  /**
   * Forgets sends logged before `beforeMs` (call it on each flush with now
   * minus the longest quota window). Returns how many log rows were removed.
   * Writer only.
   */
  pruneSends(beforeMs: number): number;

  /** Limiter state (send timestamps of the longest window, adaptive state) as the engine serialised it. */
  saveLimiterState(json: string): void;
  loadLimiterState(): string | null;

  /**
   * Marks a `load` of `job` as started (committed at once) or, with null, as finished. A load that stops
   * partway leaves a prefix of its files staged, in which a record that appears again later in them (a
   * changed ticket in two API pages) may hold its older copy: `run` refuses the job until a load of it ends.
   * Writer only.
   */
  setUnfinishedLoad(job: string, load: UnfinishedLoad | null): void;
  /**
   * After every record of `file` was staged for `job` (in this store's lifetime): drops the file's invalid
   * lines kept under line keys (`!file:line`) that were not staged again, because the line was corrected or
   * removed. Returns how many. Writer only.
   */
  dropStaleLineKeys(job: string, file: string): number;
  /** The jobs whose last `load` did not finish, with what it was loading. */
  unfinishedLoads(): Record<string, UnfinishedLoad>;

  /** Who holds the writer lock, or null: nobody, or a process that is gone (the next writer takes over). */
  lockHolder(): LockHolder | null;

  /** Checkpoints the WAL, releases the writer lock, closes. Idempotent. */
  close(): void;
  [Symbol.dispose](): void;
}

/**
 * Opens (and for a writer, creates or migrates) the store at `file`.
 *
 * Throws StoreError: `store_locked` (another live writer: its pid, host and
 * since are in the message; a lock whose holder is gone is taken over),
 * `store_newer` (written by a newer nexus-backfill: upgrade), `store_foreign`
 * (not a nexus-backfill store), `store_corrupt`, `store_readonly`,
 * `store_full`, `store_io` (missing store for a reader, I/O errors).
 */
export function openStore(file: string, opts: OpenStoreOptions): Store {
  try {
    return openOnce(file, opts);
  } catch (err) {
    // A load killed mid-commit left its rollback journal (see beginLoad), which a read-only connection may not
    // roll back: a read-write one does, then the reader opens as usual.
    if (opts.mode !== 'reader' || (err as { cause?: { code?: unknown } }).cause?.code !== 'SQLITE_READONLY_ROLLBACK') throw err;
    rollBackHotJournal(file, opts.busyTimeoutMs ?? 5000);
    return openOnce(file, opts);
  }
}

function openOnce(file: string, opts: OpenStoreOptions): Store {
  const writer = opts.mode === 'writer';
  const now = opts.now ?? Date.now;
  const db = openConnection(file, writer, opts.busyTimeoutMs ?? 5000, !writer || opts.mustExist === true);
  try {
    // A new store gets 16 KB pages (set before anything is written): a staged record is ~1.3 KB, and SQLite
    // writes the WAL one page per two system calls, so 4 KB pages made staging spend a third of its time
    // in the kernel. Measured (bench store, 100,000 tickets): ~2 us less CPU per staged record; larger pages
    // save little more and make every small write (a claim, an outcome batch) cost more WAL bytes.
    if (writer && (db.pragma('page_count', { simple: true }) as number) === 0) db.pragma('page_size = 16384');
    db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
    // See the module comment: NORMAL in WAL is crash-safe; a power loss costs re-sends, not corruption.
    db.pragma('synchronous = NORMAL');
    // 8 MB of page cache: staging and claiming touch the right edge of a few B-trees, and the OS caches the
    // rest of the file. Measured at 1,000,000 staged items: peak RSS ~45 MB lower than with 32 MB, same rate.
    db.pragma('cache_size = -8000');
    if (opts.maxPageCount !== undefined) db.pragma(`max_page_count = ${opts.maxPageCount}`);
    prepareSchema(db, file, writer);
    if (writer) {
      takeLock(db, file, opts.command ?? 'writer', now());
      // Only once the lock is ours: a store a load holds is in rollback-journal mode (see beginLoad), and
      // leaving it needs the file to itself, which would only wait for the busy timeout and then fail.
      db.pragma('journal_mode = WAL');
    }
    return new CheckpointStore(db, file, opts.mode, now);
  } catch (err) {
    db.close();
    throw translateError(err, file);
  }
}
