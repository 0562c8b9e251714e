/**
 * Staging (Store.stage, rules in index.ts), split from checkpoint-store.ts,
 * which owns the transaction and the job and file ids: records not staged
 * yet go in segments with one multi-row INSERT each (migration 4), the rest
 * record by record against what the store holds.
 */
import type Database from 'better-sqlite3';
import type { StageCounts, StageRecord } from './types.js';

/**
 * New records are staged in runs of at most this many: one segment blob (see
 * migration 4) and one multi-row INSERT per run. 16 keeps a segment ~20 KB
 * for 1.3 KB tickets, which a read of one body from it copies whole.
 */
const SEGMENT_RECORDS = 16;
/** Values bound per row of the multi-row staging INSERT; those common to the run are bound once, by name. */
const STAGE_COLS = 8;

type Row = Record<string, any>;

/**
 * The key of an invalid record without a usable id: `!<file>:<line>` (`#<index>` for array elements), the file
 * by the path it is staged under (as in the files table). The whole path, since exports are often named alike
 * in folders of their own: by the file name alone, two files' bad lines shared keys, and one replaced the other.
 */
export function lineKey(file: string | null, line: number, index?: number): string {
  return `!${file ?? 'input'}:${line}${index === undefined ? '' : `#${index}`}`;
}

/**
 * Which failures turn the key over when the item goes back to pending (see
 * ClaimedItem.generation): SQL giving 1 or 0 (never NULL: a NULL status is no
 * such failure) for the status expression `status`.
 */
export function keyUsed(status: string): string {
  return `(CASE WHEN ${status} BETWEEN 400 AND 499 AND ${status} NOT IN (408, 409, 425, 429) THEN 1 ELSE 0 END)`;
}

export class Stager {
  readonly #db: Database.Database;
  readonly #s: Record<string, Database.Statement>;
  /** Multi-row staging INSERTs by row count (1..SEGMENT_RECORDS), prepared on first use. */
  readonly #many = new Map<number, Database.Statement>();
  /** Line keys (`!file:line`, see lineKey) staged per file id since that file's last dropStaleLineKeys(). */
  readonly #lineKeys = new Map<number, Set<string>>();

  constructor(db: Database.Database) {
    this.#db = db;
    this.#s = {
      stageInsert: db.prepare(`INSERT INTO items (job_id, source_id, state, hash, reason, file_id, line, elem, staged_at, updated_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, source_id) DO NOTHING`),
      bodyInsert: db.prepare(`INSERT INTO bodies (id, payload) VALUES (?, ?)`),
      segmentInsert: db.prepare(`INSERT INTO segments (data) VALUES (?)`),
      segmentDelete: db.prepare(`DELETE FROM segments WHERE id = ?`),
      stageSlice: db.prepare(`SELECT seg_id, seg_off FROM items WHERE job_id = ? AND source_id = ?`),
      stageExisting: db.prepare(`SELECT id, state, hash, next_hash, first_sent_at, target_id, done_hash FROM items WHERE job_id = ? AND source_id = ?`),
      // The export is back to the body NexusCore holds: done again, nothing to send (migration 6).
      stageRestore: db.prepare(`UPDATE items SET state = 'done', hash = done_hash, reason = NULL, file_id = ?, line = ?, elem = ?,
          next_hash = NULL, sends = 0, attempts = 0, next_attempt_at = 0, first_sent_at = NULL, last_sent_at = NULL,
          err_status = NULL, err_code = NULL, err_message = NULL, err_body = NULL, updated_at = ? WHERE id = ?`),
      // A changed record replaces a body nobody waits on. A failure whose response the server keeps for its key
      // turns the key over (generation + 1), so the new content is not answered with the old failure.
      stageReplace: db.prepare(`UPDATE items SET state = ?, mode = ?, hash = ?, reason = ?, file_id = ?, line = ?, elem = ?,
          next_hash = NULL, sends = 0, attempts = 0, next_attempt_at = 0, first_sent_at = NULL, last_sent_at = NULL,
          generation = generation + ${keyUsed('err_status')},
          err_status = NULL, err_code = NULL, err_message = NULL, err_body = NULL, updated_at = ? WHERE id = ?`),
      bodySet: db.prepare(`INSERT INTO bodies (id, payload) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET payload = excluded.payload, next_payload = NULL`),
      stageQueue: db.prepare(`UPDATE items SET next_hash = ?, file_id = ?, line = ?, elem = ?, updated_at = ? WHERE id = ?`),
      // An item whose body is in a segment has no `bodies` row yet: its payload stays NULL (the segment's).
      bodyQueue: db.prepare(`INSERT INTO bodies (id, payload, next_payload) VALUES (?, NULL, ?) ON CONFLICT (id) DO UPDATE SET next_payload = excluded.next_payload`),
      // Line keys start with '!': the range '!' <= key < '"' is a walk of the key index.
      lineKeyed: db.prepare(`SELECT id, source_id FROM items WHERE job_id = ? AND source_id >= '!' AND source_id < '"' AND file_id = ? AND state = 'invalid'`),
      itemDelete: db.prepare(`DELETE FROM items WHERE id = ?`),
      bodyDelete: db.prepare(`DELETE FROM bodies WHERE id = ?`),
    };
  }

  /** Stages `records` of one file, adding to `counts`; inside the caller's transaction. */
  stage(jobId: number, file: string | null, fileId: number | null, now: number, records: readonly StageRecord[], counts: StageCounts): void {
    if (fileId !== null) {
      // Only an invalid record can have a line key.
      for (const r of records) if (r.reason !== undefined && r.sourceId.charCodeAt(0) === 0x21) this.#seeLineKey(fileId, r.sourceId);
    }
    for (let i = 0; i < records.length; i += SEGMENT_RECORDS) {
      for (const r of this.#stageNew(jobId, fileId, now, records.slice(i, i + SEGMENT_RECORDS), counts)) {
        this.#stageOne(jobId, file, fileId, now, r, counts);
      }
    }
  }

  /**
   * The common case, records not staged yet: one segment holding their bodies and one multi-row INSERT that
   * skips the keys already there. Returns the records it did not insert (already staged, or a second time
   * in the run), for the record-by-record rules.
   */
  #stageNew(jobId: number, fileId: number | null, now: number, run: readonly StageRecord[], counts: StageCounts): StageRecord[] {
    const s = this.#s;
    // A run whose first record is staged already is most likely a load repeated: record by record, rather than
    // writing a segment only to delete it again (that wrote the whole file to the WAL on every re-load).
    if (s.stageSlice!.get(jobId, run[0]!.sourceId) !== undefined) return [...run];
    const parts = run.map((r) => (typeof r.payload === 'string' ? Buffer.from(r.payload, 'utf8') : r.payload));
    const segId = s.segmentInsert!.run(Buffer.concat(parts)).lastInsertRowid;
    const offsets = new Array<number>(run.length);
    for (let k = 0, off = 0; k < run.length; off += parts[k]!.byteLength, k++) offsets[k] = off;
    const params: unknown[] = new Array(run.length * STAGE_COLS);
    for (let k = 0; k < run.length; k++) {
      const r = run[k]!;
      let j = k * STAGE_COLS;
      params[j++] = r.sourceId;
      params[j++] = r.reason === undefined ? 'pending' : 'invalid';
      params[j++] = r.hash;
      params[j++] = r.reason ?? null;
      params[j++] = r.line;
      params[j++] = r.index ?? null;
      params[j++] = offsets[k];
      params[j++] = parts[k]!.byteLength;
    }
    const inserted = this.#manyStatement(run.length).run(params, { job: jobId, file: fileId, now, seg: segId }).changes;
    if (inserted === run.length) {
      for (const r of run) {
        if (r.reason === undefined) counts.new++;
        else counts.invalid++;
      }
      return [];
    }
    if (inserted === 0) {
      s.segmentDelete!.run(segId);
      return [...run];
    }
    // Some were skipped: a record was inserted if its key's item points at its own slice of this segment.
    const rest: StageRecord[] = [];
    for (let k = 0; k < run.length; k++) {
      const r = run[k]!;
      const at = s.stageSlice!.get(jobId, r.sourceId) as Row;
      if (at.seg_id === segId && at.seg_off === offsets[k]) counts[r.reason === undefined ? 'new' : 'invalid']++;
      else rest.push(r);
    }
    return rest;
  }

  #seeLineKey(fileId: number, key: string): void {
    let seen = this.#lineKeys.get(fileId);
    if (!seen) this.#lineKeys.set(fileId, (seen = new Set()));
    seen.add(key);
  }

  /**
   * Once a whole file is staged: its invalid lines that this load did not stage again (the line was corrected,
   * so its record now has its own key, or the line is gone) are dropped. They were never sent and nothing
   * refers to them; kept, they would leave the job `invalid` (exit 2) for ever. Returns how many.
   */
  dropStaleLineKeys(jobId: number, fileId: number): number {
    const seen = this.#lineKeys.get(fileId) ?? new Set<string>();
    this.#lineKeys.delete(fileId);
    let n = 0;
    for (const r of this.#s.lineKeyed!.all(jobId, fileId) as Row[]) {
      if (seen.has(r.source_id as string)) continue;
      this.#s.bodyDelete!.run(r.id);
      this.#s.itemDelete!.run(r.id);
      n++;
    }
    return n;
  }

  #manyStatement(rows: number): Database.Statement {
    let stmt = this.#many.get(rows);
    if (!stmt) {
      // OR IGNORE, which no constraint can make fail half-way: a statement that could keeps a statement journal,
      // and with 16 KB pages that spilled to a temp file (3x the writes of the load itself, measured with
      // strace). A row skipped for any reason is handled by the record-by-record rules, which fail loudly.
      // What the run shares (job, file, time, segment) is bound once, by name, rather than in every row: each
      // bound value is a call into the addon (~0.4 us less CPU per record, measured on 200,000 rows alone).
      stmt = this.#db.prepare(
        `INSERT OR IGNORE INTO items (job_id, source_id, state, hash, reason, file_id, line, elem, staged_at, seg_id, seg_off, seg_len, updated_at) VALUES ${new Array(rows)
          .fill(`(@job, ?, ?, ?, ?, @file, ?, ?, @now, @seg, ?, ?, @now)`)
          .join(', ')}`,
      );
      this.#many.set(rows, stmt);
    }
    return stmt;
  }

  /** Stages one record against what the store holds (see the rules in index.ts). */
  #stageOne(jobId: number, file: string | null, fileId: number | null, now: number, r: StageRecord, counts: StageCounts): void {
    const s = this.#s;
    const state = r.reason === undefined ? 'pending' : 'invalid';
    if (state === 'invalid') counts.invalid++;
    const elem = r.index ?? null;
    const reason = r.reason ?? null;
    let sourceId = r.sourceId;
    for (let pass = 0; pass < 2; pass++) {
      const ins = s.stageInsert!.run(jobId, sourceId, state, r.hash, reason, fileId, r.line, elem, now, now);
      if (ins.changes === 1) {
        s.bodyInsert!.run(ins.lastInsertRowid, r.payload);
        if (state === 'pending') counts.new++;
        break;
      }
      const ex = s.stageExisting!.get(jobId, sourceId) as Row;
      const locked = ex.first_sent_at !== null && (ex.state === 'pending' || ex.state === 'inflight' || ex.state === 'dead');
      if (state === 'invalid') {
        if (ex.state === 'invalid' && ex.hash === r.hash) break;
        if (locked || ex.state === 'done') {
          // The record in NexusCore (or on its way) stays as it is; the bad line is kept under its own key.
          sourceId = lineKey(file, r.line, r.index);
          if (fileId !== null) this.#seeLineKey(fileId, sourceId);
          continue;
        }
        s.stageReplace!.run('invalid', 'create', r.hash, reason, fileId, r.line, elem, now, ex.id);
        s.bodySet!.run(ex.id, r.payload);
        break;
      }
      if (locked) {
        if (r.hash === ex.next_hash || (r.hash === ex.hash && ex.next_hash === null)) counts.unchanged++;
        else {
          // A body was sent and its outcome is unknown: it keeps that body; the change follows as an update.
          const back = r.hash === ex.hash;
          s.stageQueue!.run(back ? null : r.hash, fileId, r.line, elem, now, ex.id);
          s.bodyQueue!.run(ex.id, back ? null : r.payload);
          counts.changed++;
        }
        break;
      }
      if (ex.hash === r.hash && ex.state !== 'invalid') {
        counts.unchanged++;
        break;
      }
      if (ex.state !== 'done' && ex.target_id !== null && ex.done_hash === r.hash) {
        // A change (pending, or refused by the API) reverted in the export: NexusCore holds this body already.
        s.stageRestore!.run(fileId, r.line, elem, now, ex.id);
        s.bodySet!.run(ex.id, r.payload);
        counts.changed++;
        break;
      }
      const mode = ex.target_id !== null ? 'update' : 'create';
      s.stageReplace!.run('pending', mode, r.hash, null, fileId, r.line, elem, now, ex.id);
      s.bodySet!.run(ex.id, r.payload);
      counts.changed++;
      break;
    }
  }
}
