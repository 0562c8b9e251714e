/**
 * The checkpoint store: every SQL statement of nexus-backfill lives here,
 * in staging.ts and in run-log.ts (schema in migrations.ts). Statements are prepared once; every write that
 * belongs together is one transaction, so a kill -9 at any instant leaves
 * either all of it or none of it.
 */
import type Database from 'better-sqlite3';
import type { ItemState } from '../types.js';
import { ITEM_STATES } from '../types.js';
import { readLock, releaseLock, translateError } from './open.js';
import { RunLog } from './run-log.js';
import { LoadPageDropper } from './page-cache.js';
import { keyUsed, Stager } from './staging.js';
import type {
  ClaimedItem,
  LockHolder,
  MetricsRow,
  OutcomeBatch,
  RefState,
  RunInfo,
  StageCounts,
  StageRecord,
  StateCounts,
  StoredItem,
  UnfinishedLoad,
} from './types.js';

/** Positive refState answers kept in memory: a done item's target id never changes during a run. */
const REF_CACHE_MAX = 50_000;

type Row = Record<string, any>;

/** Positions of the claim statement's RETURNING columns (it reads rows as arrays). */
const C = {
  id: 0,
  sourceId: 1,
  payload: 2,
  hash: 3,
  mode: 4,
  targetId: 5,
  attempts: 6,
  sends: 7,
  firstSentAt: 8,
  fileId: 9,
  line: 10,
  elem: 11,
  nextAttemptAt: 12,
  generation: 13,
  segId: 14,
  segOff: 15,
  segLen: 16,
} as const;

/** Arguments for a statement written with numbered parameters (?1, ?2, ...). */
function P(...values: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  values.forEach((v, i) => (out[`p${i + 1}`] = v));
  return out;
}

function emptyCounts(): StateCounts {
  return Object.fromEntries(ITEM_STATES.map((s) => [s, 0])) as StateCounts;
}

/** Another connection kept the store busy past the busy timeout. */
function isBusy(err: unknown): boolean {
  return String((err as { code?: unknown } | null)?.code).startsWith('SQLITE_BUSY');
}

export class CheckpointStore {
  readonly path: string;
  readonly mode: 'writer' | 'reader';
  #db: Database.Database;
  #now: () => number;
  #closed = false;
  /** In bulk-load mode (beginLoad): a rollback journal instead of the WAL. */
  #bulk = false;
  #jobIds = new Map<string, number>();
  #jobNames = new Map<number, string>();
  #files = new Map<number, string>();
  #refCache = new Map<string, string>();
  #s: Record<string, Database.Statement>;
  #stager: Stager | null = null;
  /** In bulk-load mode, where the native addon is built: drops committed pages from the OS cache. */
  #dropper: LoadPageDropper | null = null;
  #runLog: RunLog;

  constructor(db: Database.Database, file: string, mode: 'writer' | 'reader', now: () => number) {
    this.#db = db;
    this.path = file;
    this.mode = mode;
    this.#now = now;
    // Numbered parameters (?1) become named ones (@p1): better-sqlite3 binds names, called with P(...).
    const p = (sql: string) => db.prepare(sql.replace(/\?(\d+)/g, '@p$1'));
    // Payloads live in `bodies` (migration 2): item rows stay narrow for claims, outcomes and scans.
    // The body: a `bodies` row wins, else the item's slice of its segment (migration 4).
    const body = `coalesce(b.payload, (SELECT substr(data, i.seg_off + 1, i.seg_len) FROM segments WHERE segments.id = i.seg_id))`;
    const itemCols = `i.id, i.job_id, i.source_id, i.state, i.mode, ${body} AS payload, i.hash, i.reason, i.file_id, i.line, i.elem, i.sends, i.attempts,
      i.target_id, i.err_status, i.err_code, i.err_message, i.err_body, i.next_hash IS NOT NULL AS has_next, i.updated_at, i.first_sent_at, i.generation`;
    const withBody = `items AS i LEFT JOIN bodies AS b ON b.id = i.id`;
    // Repeating the partial index's WHERE lets SQLite use items_open (see migrations.ts).
    const OPEN = `state NOT IN ('pending', 'done')`;
    this.#s = {
      jobsAll: p(`SELECT id, name FROM jobs`),
      filesAll: p(`SELECT id, path FROM files`),
      refState: p(`SELECT state, target_id FROM items WHERE job_id = ? AND source_id = ?`),
      // Counts without an index on state for every row: all items per job (the narrow key index), pending ones
      // (items_due), the rest but done (items_open); done is what remains.
      countAll: p(`SELECT job_id, count(*) AS n FROM items GROUP BY job_id`),
      countPending: p(`SELECT job_id, count(*) AS n FROM items WHERE state = 'pending' GROUP BY job_id`),
      countOpen: p(`SELECT job_id, state, count(*) AS n FROM items WHERE ${OPEN} GROUP BY job_id, state`),
      itemsByOpenState: p(`SELECT ${itemCols} FROM ${withBody} WHERE i.job_id = ? AND i.state = ? AND i.${OPEN} ORDER BY i.id`),
      // pending and done: a scan in staging order (no sort of possibly millions of rows).
      itemsByBulkState: p(`SELECT ${itemCols} FROM items AS i NOT INDEXED LEFT JOIN bodies AS b ON b.id = i.id WHERE i.job_id = ? AND i.state = ? ORDER BY i.id`),
      itemByKey: p(`SELECT ${itemCols} FROM ${withBody} WHERE i.job_id = ? AND i.source_id = ?`),
      records: p(`SELECT i.source_id, ${body} AS payload FROM ${withBody} WHERE i.job_id = ? AND i.state != 'invalid' ORDER BY i.id`),
      nextDue: p(`SELECT min(next_attempt_at) AS t FROM items WHERE job_id = ? AND state = 'pending'`),
    };
    if (mode === 'writer') {
      Object.assign(this.#s, {
        jobInsert: p(`INSERT INTO jobs (name) VALUES (?) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`),
        fileInsert: p(`INSERT INTO files (path) VALUES (?) ON CONFLICT (path) DO UPDATE SET path = excluded.path RETURNING id`),
        segmentGet: db.prepare(`SELECT data FROM segments WHERE id = ?`).pluck(),
        // The body that waited behind a sent one becomes the body (see done and failed).
        bodyPromote: p(`UPDATE bodies SET payload = next_payload, next_payload = NULL WHERE id = ? AND next_payload IS NOT NULL`),
        // Per item on every run, so bound by position and read as arrays (columns at C): named parameters and a
        // row object per item cost more than the rest of the claim. Arguments: now x 3, job_id, now, limit.
        claim: db
          .prepare(
            `UPDATE items SET state = 'inflight', sends = sends + 1, first_sent_at = coalesce(first_sent_at, ?), last_sent_at = ?, updated_at = ?
          WHERE id IN (SELECT id FROM items WHERE job_id = ? AND state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?)
          RETURNING id, source_id, (SELECT payload FROM bodies WHERE bodies.id = items.id) AS payload, hash, mode, target_id, attempts, sends,
            first_sent_at, file_id, line, elem, next_attempt_at, generation, seg_id, seg_off, seg_len`,
          )
          .raw(true),
        recover: p(`UPDATE items SET state = 'pending', next_attempt_at = 0, updated_at = ? WHERE job_id = ? AND state = 'inflight' AND ${OPEN}`),
        unsend: p(`UPDATE items SET sends = max(sends - 1, 0), first_sent_at = CASE WHEN sends <= 1 THEN NULL ELSE first_sent_at END WHERE id = ?`),
        done: p(`UPDATE items SET
            state = CASE WHEN next_hash IS NULL THEN 'done' ELSE 'pending' END,
            mode = CASE WHEN next_hash IS NULL THEN mode ELSE 'update' END,
            hash = coalesce(next_hash, hash), next_hash = NULL,
            sends = CASE WHEN next_hash IS NULL THEN sends ELSE 0 END,
            attempts = CASE WHEN next_hash IS NULL THEN attempts ELSE 0 END,
            first_sent_at = CASE WHEN next_hash IS NULL THEN first_sent_at ELSE NULL END,
            next_attempt_at = 0, target_id = ?1, done_at = ?2, updated_at = ?2, done_hash = hash,
            err_status = NULL, err_code = NULL, err_message = NULL, err_body = NULL
          WHERE id = ?3 AND state = 'inflight' RETURNING state`),
        // The common done, by position: nothing was staged behind the sent body. Sets what `done` sets for such a
        // row; without its CASEs and RETURNING it costs half. Arguments: target_id, now, now, id.
        doneSimple: db.prepare(`UPDATE items SET state = 'done', next_attempt_at = 0, target_id = ?, done_at = ?, updated_at = ?, done_hash = hash,
            err_status = NULL, err_code = NULL, err_message = NULL, err_body = NULL
          WHERE id = ? AND state = 'inflight' AND next_hash IS NULL`),
        failed: p(`UPDATE items SET
            state = CASE WHEN next_hash IS NULL THEN 'failed' ELSE 'pending' END,
            generation = generation + CASE WHEN next_hash IS NOT NULL THEN ${keyUsed('?1')} ELSE 0 END,
            hash = coalesce(next_hash, hash), next_hash = NULL,
            sends = CASE WHEN next_hash IS NULL THEN sends ELSE 0 END,
            first_sent_at = CASE WHEN next_hash IS NULL THEN first_sent_at ELSE NULL END,
            attempts = CASE WHEN next_hash IS NULL THEN attempts + 1 ELSE 0 END, next_attempt_at = 0,
            err_status = ?1, err_code = ?2, err_message = ?3, err_body = ?4, updated_at = ?5
          WHERE id = ?6 AND state = 'inflight' RETURNING state`),
        retryLater: p(`UPDATE items SET state = 'pending', next_attempt_at = ?1, attempts = attempts + ?2,
            err_status = ?3, err_code = ?4, err_message = ?5, err_body = ?6, updated_at = ?7 WHERE id = ?8 AND state = 'inflight'`),
        // Same, under the next key generation: its first send is a first send (sends and first_sent_at start over).
        retryNewKey: p(`UPDATE items SET state = 'pending', next_attempt_at = ?1, attempts = attempts + ?2, generation = generation + 1,
            sends = 0, first_sent_at = NULL,
            err_status = ?3, err_code = ?4, err_message = ?5, err_body = ?6, updated_at = ?7 WHERE id = ?8 AND state = 'inflight'`),
        dead: p(`UPDATE items SET state = 'dead', attempts = attempts + 1,
            err_status = ?1, err_code = ?2, err_message = ?3, err_body = ?4, updated_at = ?5 WHERE id = ?6 AND state = 'inflight'`),
        wait: p(`UPDATE items SET state = 'pending', next_attempt_at = ?1, err_status = NULL, err_code = 'waiting', err_message = ?2, err_body = NULL,
            updated_at = ?3 WHERE id = ?4 AND state = 'inflight'`),
        release: p(`UPDATE items SET state = 'pending', updated_at = ? WHERE id = ? AND state = 'inflight'`),
        retryFailed: p(`UPDATE items SET state = 'pending', attempts = 0, sends = 0, first_sent_at = NULL, next_attempt_at = 0, updated_at = ?,
          generation = generation + ${keyUsed('err_status')} WHERE job_id = ? AND state = 'failed' AND ${OPEN}`),
        retryDead: p(`UPDATE items SET state = 'pending', attempts = 0, next_attempt_at = 0, updated_at = ?,
          generation = generation + ${keyUsed('err_status')} WHERE job_id = ? AND state = 'dead' AND ${OPEN}`),
      });
    }
    this.#runLog = new RunLog(db, mode === 'writer');
    this.#loadNames();
  }

  #loadNames(): void {
    for (const r of this.#s.jobsAll!.all() as Row[]) {
      this.#jobIds.set(r.name, r.id);
      this.#jobNames.set(r.id, r.name);
    }
    for (const r of this.#s.filesAll!.all() as Row[]) this.#files.set(r.id, r.path);
  }

  #guard<T>(fn: () => T): T {
    if (this.#closed) throw new Error(`The checkpoint store ${this.path} is closed.`);
    try {
      return fn();
    } catch (err) {
      throw translateError(err, this.path);
    }
  }

  #jobId(name: string): number {
    let id = this.#jobIds.get(name);
    if (id === undefined) {
      id = (this.#s.jobInsert!.get(name) as Row).id as number;
      this.#jobIds.set(name, id);
      this.#jobNames.set(id, name);
    }
    return id;
  }

  #fileId(file: string): number {
    for (const [id, p] of this.#files) if (p === file) return id;
    const id = (this.#s.fileInsert!.get(file) as Row).id as number;
    this.#files.set(id, file);
    return id;
  }

  #fileName(id: number | null): string | null {
    if (id === null) return null;
    if (!this.#files.has(id)) this.#loadNames();
    return this.#files.get(id) ?? null;
  }

  /** Stages records of one file for a job in one transaction. See docs in index.ts. */
  stage(job: string, file: string | null, records: readonly StageRecord[]): StageCounts {
    return this.#guard(() => {
      const counts: StageCounts = { new: 0, unchanged: 0, changed: 0, invalid: 0 };
      this.#staging((st) => st.stage(this.#jobId(job), file, file === null ? null : this.#fileId(file), this.#now(), records, counts));
      this.#dropper?.staged(records);
      return counts;
    });
  }

  dropStaleLineKeys(job: string, file: string): number {
    return this.#guard(() => this.#staging((st) => st.dropStaleLineKeys(this.#jobId(job), this.#fileId(file))));
  }

  /**
   * Runs staging work inside beginStaging's transaction when one is open, whose owner rolls it all back on any
   * error (a savepoint per call would journal every page the call touches, to a temp file with 16 KB pages,
   * for nothing); otherwise in a transaction of its own.
   */
  #staging<T>(fn: (stager: Stager) => T): T {
    const stager = (this.#stager ??= new Stager(this.#db));
    return this.#db.inTransaction ? fn(stager) : this.#db.transaction(() => fn(stager))();
  }

  beginStaging(): void {
    this.#guard(() => {
      if (this.#db.inTransaction) throw new Error('beginStaging: a staging transaction is already open');
      this.#db.prepare('BEGIN IMMEDIATE').run();
    });
  }

  commitStaging(): void {
    this.#guard(() => {
      if (!this.#db.inTransaction) return;
      this.#db.prepare('COMMIT').run();
      this.#dropper?.committed();
    });
  }

  beginLoad(): boolean {
    return this.#guard(() => {
      if (this.#db.inTransaction) throw new Error('beginLoad: a transaction is open');
      if (this.#bulk) return true;
      // Leaving WAL needs the store to itself. Another connection (a `status` now and then) makes this fail
      // or wait: wait briefly, then load in WAL mode rather than holding the load up for the busy timeout.
      const timeout = this.#db.pragma('busy_timeout', { simple: true }) as number;
      let mode: unknown;
      try {
        this.#db.pragma('busy_timeout = 250');
        mode = this.#db.pragma('journal_mode = TRUNCATE', { simple: true });
      } catch (err) {
        if (!isBusy(err)) throw err;
        mode = 'wal';
      } finally {
        this.#db.pragma(`busy_timeout = ${timeout}`);
      }
      if (mode !== 'truncate') return false;
      this.#bulk = true;
      // See the module comment in index.ts: with a rollback journal, only FULL leaves no chance of a corrupt file
      // after a power loss (NORMAL leaves a small one, SQLite's documentation says); in WAL, NORMAL does.
      this.#db.pragma('synchronous = FULL');
      this.#dropper = LoadPageDropper.open(this.path);
      return true;
    });
  }

  endLoad(): void {
    if (!this.#bulk) return;
    this.#dropper?.close();
    this.#dropper = null;
    this.#guard(() => {
      if (this.#db.inTransaction) throw new Error('endLoad: a transaction is open');
      try {
        this.#db.pragma('journal_mode = WAL');
      } catch (err) {
        // A reader kept the store busy past the busy timeout. The store is whole in either mode, and the next
        // writer to open it switches it back to WAL: not a reason to fail a load that committed everything.
        if (isBusy(err)) return;
        throw err;
      }
      this.#db.pragma('synchronous = NORMAL');
      this.#bulk = false;
    });
  }

  rollbackStaging(): void {
    if (this.#closed || !this.#db.inTransaction) return;
    this.#guard(() => this.#db.prepare('ROLLBACK').run());
  }

  claimDue(job: string, limit: number, now: number): ClaimedItem[] {
    return this.#guard(() => {
      const jobId = this.#jobIds.get(job);
      if (jobId === undefined) return [];
      const rows = this.#s.claim!.all(now, now, now, jobId, now, limit) as unknown[][];
      // RETURNING gives no order: due time, then staging order.
      rows.sort((a, b) => (a[C.nextAttemptAt] as number) - (b[C.nextAttemptAt] as number) || (a[C.id] as number) - (b[C.id] as number));
      // Bodies in segments (migration 4): each segment read once per page, which is mostly consecutive items.
      const segments = new Map<number, Buffer>();
      const out: ClaimedItem[] = new Array(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        let payload = r[C.payload];
        if (payload === null) {
          const segId = r[C.segId] as number;
          const off = r[C.segOff] as number;
          let seg = segments.get(segId);
          if (seg === undefined) segments.set(segId, (seg = this.#s.segmentGet!.get(segId) as Buffer));
          payload = seg.toString('utf8', off, off + (r[C.segLen] as number));
        }
        out[i] = {
          id: r[C.id] as number,
          key: `${job}:${r[C.sourceId] as string}`,
          job,
          sourceId: r[C.sourceId] as string,
          payload: Buffer.isBuffer(payload) ? payload.toString('utf8') : String(payload),
          hash: r[C.hash] as string,
          mode: r[C.mode] as ClaimedItem['mode'],
          targetId: r[C.targetId] as string | null,
          attempts: r[C.attempts] as number,
          sends: r[C.sends] as number,
          firstSentAt: r[C.firstSentAt] as number,
          generation: r[C.generation] as number,
          file: this.#fileName(r[C.fileId] as number | null),
          line: r[C.line] as number | null,
          index: r[C.elem] as number | null,
        };
      }
      return out;
    });
  }

  recoverInflight(jobs?: readonly string[]): number {
    return this.#guard(() => {
      let n = 0;
      const now = this.#now();
      this.#db.transaction(() => {
        for (const [name, id] of this.#jobIds) {
          if (!jobs || jobs.includes(name)) n += this.#s.recover!.run(now, id).changes;
        }
      })();
      return n;
    });
  }

  recordOutcomes(batch: OutcomeBatch): void {
    this.#guard(() => {
      const s = this.#s;
      const now = this.#now();
      this.#db.transaction(() => {
        for (const o of batch.outcomes) {
          switch (o.kind) {
            case 'done': {
              // The item's target id is the id map (a view, migration 5).
              if (s.doneSimple!.run(o.targetId, now, now, o.id).changes === 1) break;
              // A change staged behind the sent body, or an item no longer inflight (then nothing happens).
              const row = s.done!.get(P(o.targetId, now, o.id)) as Row | undefined;
              // Still pending after done: a change waited behind the sent body and is now the body.
              if (row?.state === 'pending') s.bodyPromote!.run(o.id);
              break;
            }
            case 'failed': {
              if (o.unsent) s.unsend!.run(o.id);
              const row = s.failed!.get(P(o.status ?? null, o.code ?? null, o.message ?? null, o.body ?? null, now, o.id)) as Row | undefined;
              if (row?.state === 'pending') s.bodyPromote!.run(o.id);
              break;
            }
            case 'retry':
              (o.newKey ? s.retryNewKey! : s.retryLater!).run(P(o.nextAttemptAt, o.countsAsAttempt ? 1 : 0, o.status ?? null, o.code ?? null, o.message ?? null, o.body ?? null, now, o.id));
              break;
            case 'dead':
              s.dead!.run(P(o.status ?? null, o.code ?? null, o.message ?? null, o.body ?? null, now, o.id));
              break;
            case 'wait':
              s.unsend!.run(o.id);
              s.wait!.run(P(o.nextAttemptAt, o.reason, now, o.id));
              break;
            case 'release':
              s.unsend!.run(o.id);
              s.release!.run(now, o.id);
              break;
          }
        }
        if (batch.metrics) this.#runLog.writeMetrics(batch.metrics);
        if (batch.limiterState !== undefined) this.#runLog.saveLimiterState(batch.limiterState, now);
        if (batch.pruneSendsBefore !== undefined) this.#runLog.pruneSends(batch.pruneSendsBefore);
      })();
    });
  }

  refState(job: string, sourceId: string): RefState {
    const cacheKey = `${job}\u0000${sourceId}`;
    const cached = this.#refCache.get(cacheKey);
    if (cached !== undefined) return { state: 'done', targetId: cached };
    return this.#guard(() => {
      const jobId = this.#jobIds.get(job) ?? this.#refreshJobId(job);
      if (jobId === undefined) return { state: 'absent' };
      const row = this.#s.refState!.get(jobId, sourceId) as Row | undefined;
      if (!row) return { state: 'absent' };
      if (row.target_id === null) return { state: row.state };
      if (row.state === 'done') {
        if (this.#refCache.size >= REF_CACHE_MAX) this.#refCache.clear();
        this.#refCache.set(cacheKey, row.target_id);
      }
      return { state: row.state, targetId: row.target_id };
    });
  }

  #refreshJobId(job: string): number | undefined {
    this.#loadNames();
    return this.#jobIds.get(job);
  }

  counts(jobs?: readonly string[]): Record<string, StateCounts> {
    return this.#guard(() => {
      this.#loadNames();
      const out: Record<string, StateCounts> = {};
      for (const name of jobs ?? [...this.#jobIds.keys()].sort()) out[name] = emptyCounts();
      const of = (jobId: number) => {
        const name = this.#jobNames.get(jobId);
        return name === undefined ? undefined : out[name];
      };
      // One read transaction, so the three counts agree with each other.
      this.#db.transaction(() => {
        for (const r of this.#s.countAll!.all() as Row[]) {
          const c = of(r.job_id);
          if (c) c.done = r.n;
        }
        for (const r of this.#s.countPending!.all() as Row[]) {
          const c = of(r.job_id);
          if (c) {
            c.pending = r.n;
            c.done -= r.n;
          }
        }
        for (const r of this.#s.countOpen!.all() as Row[]) {
          const c = of(r.job_id);
          if (c) {
            c[r.state as ItemState] = r.n;
            c.done -= r.n;
          }
        }
      })();
      return out;
    });
  }

  *iterateItems(job: string, states: readonly ItemState[]): Generator<StoredItem> {
    const jobId = this.#guard(() => this.#jobIds.get(job) ?? this.#refreshJobId(job));
    if (jobId === undefined) return;
    for (const state of states) {
      const stmt = state === 'pending' || state === 'done' ? this.#s.itemsByBulkState! : this.#s.itemsByOpenState!;
      const it = this.#guard(() => stmt.iterate(jobId, state)) as IterableIterator<Row>;
      for (const r of it) yield this.#toStoredItem(job, r);
    }
  }

  getItem(job: string, sourceId: string): StoredItem | null {
    return this.#guard(() => {
      const jobId = this.#jobIds.get(job) ?? this.#refreshJobId(job);
      if (jobId === undefined) return null;
      const r = this.#s.itemByKey!.get(jobId, sourceId) as Row | undefined;
      return r ? this.#toStoredItem(job, r) : null;
    });
  }

  #toStoredItem(job: string, r: Row): StoredItem {
    const hasError = r.err_status !== null || r.err_code !== null || r.err_message !== null;
    return {
      id: r.id,
      key: `${job}:${r.source_id}`,
      job,
      sourceId: r.source_id,
      state: r.state,
      mode: r.mode,
      payload: r.payload === null ? null : Buffer.isBuffer(r.payload) ? r.payload.toString('utf8') : String(r.payload),
      reason: r.reason,
      file: this.#fileName(r.file_id),
      line: r.line,
      index: r.elem,
      sends: r.sends,
      attempts: r.attempts,
      targetId: r.target_id,
      error: hasError ? { status: r.err_status ?? undefined, code: r.err_code ?? undefined, message: r.err_message ?? undefined, body: r.err_body ?? undefined } : null,
      hasPendingChange: r.has_next === 1,
      generation: r.generation,
      updatedAt: r.updated_at,
    };
  }

  *iterateRecords(job: string): Generator<{ sourceId: string; record: unknown }> {
    const jobId = this.#guard(() => this.#jobIds.get(job) ?? this.#refreshJobId(job));
    if (jobId === undefined) return;
    const it = this.#guard(() => this.#s.records!.iterate(jobId)) as IterableIterator<Row>;
    for (const r of it) yield { sourceId: r.source_id, record: JSON.parse(Buffer.isBuffer(r.payload) ? r.payload.toString('utf8') : String(r.payload)) };
  }

  nextDueAt(job: string): number | null {
    return this.#guard(() => {
      const jobId = this.#jobIds.get(job) ?? this.#refreshJobId(job);
      if (jobId === undefined) return null;
      return ((this.#s.nextDue!.get(jobId) as Row).t as number | null) ?? null;
    });
  }

  retry(job: string, only?: 'failed' | 'dead'): number {
    return this.#guard(() => {
      const jobId = this.#jobIds.get(job);
      if (jobId === undefined) return 0;
      const now = this.#now();
      let n = 0;
      this.#db.transaction(() => {
        if (only !== 'dead') n += this.#s.retryFailed!.run(now, jobId).changes;
        if (only !== 'failed') n += this.#s.retryDead!.run(now, jobId).changes;
      })();
      return n;
    });
  }

  startRun(jobs: readonly string[], options: unknown): string {
    return this.#guard(() => this.#runLog.startRun(jobs, options, this.#now()));
  }

  finishRun(runId: string, outcome: string, summary: unknown): void {
    this.#guard(() => this.#runLog.finishRun(runId, outcome, summary, this.#now()));
  }

  listRuns(limit = 20): RunInfo[] {
    return this.#guard(() => this.#runLog.listRuns(limit));
  }

  readMetrics(runId?: string): MetricsRow[] {
    return this.#guard(() => this.#runLog.readMetrics(runId));
  }

  recordSend(atMs: number, count = 1): void {
    if (count !== 0) this.#guard(() => this.#runLog.recordSend(atMs, count));
  }

  recentSends(sinceMs: number): number[] {
    return this.#guard(() => this.#runLog.recentSends(sinceMs));
  }

  pruneSends(beforeMs: number): number {
    return this.#guard(() => this.#runLog.pruneSends(beforeMs));
  }

  saveLimiterState(json: string): void {
    this.#guard(() => this.#runLog.saveLimiterState(json, this.#now()));
  }

  loadLimiterState(): string | null {
    return this.#guard(() => this.#runLog.loadLimiterState());
  }

  setUnfinishedLoad(job: string, load: UnfinishedLoad | null): void {
    this.#guard(() => this.#runLog.setUnfinishedLoad(job, load, this.#now()));
  }

  unfinishedLoads(): Record<string, UnfinishedLoad> {
    return this.#guard(() => this.#runLog.unfinishedLoads());
  }

  lockHolder(): LockHolder | null {
    return this.#guard(() => readLock(this.#db));
  }

  close(): void {
    if (this.#closed) return;
    try {
      if (this.mode === 'writer') {
        // A staging transaction still open here was not committed: it never happened.
        if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
        this.endLoad();
        releaseLock(this.#db);
        // Folds the WAL back into the database file so the store is one file at rest.
        this.#db.pragma('wal_checkpoint(TRUNCATE)');
      }
    } catch (err) {
      throw translateError(err, this.path);
    } finally {
      this.#closed = true;
      this.#db.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
