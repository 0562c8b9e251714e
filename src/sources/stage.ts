/**
 * `load`'s engine room: reads export files (readers.ts), parses records in
 * worker threads (parse-records.ts) and stages them in the store in large
 * transactions on the main thread. Parsing is the cost of staging and SQLite
 * writes are single-threaded, so the two run in parallel on separate cores;
 * batches are applied in file order, so a record that appears twice ends with
 * its last content.
 *
 * Each store transaction is a whole number of records: a kill at any instant
 * leaves a prefix of the files staged, and loading the same files again adds
 * exactly the rest (staging is idempotent by content hash). A stop asked for
 * through `signal` reads and applies nothing more and commits what was
 * applied: whole batches, in file order, so a prefix too.
 */
import { Worker } from 'node:worker_threads';
import os from 'node:os';
import { hash } from 'node:crypto';
import { UsageError } from '../errors.js';
import type { Store, StageCounts, StageRecord } from '../store/index.js';
import { lineKey } from '../store/index.js';
import type { LoadedJob } from './job-loader.js';
import { HASH_CHARS, parseBatch, type ParsedBatch } from './parse-records.js';
import { BATCH_BYTES, readBatches, type ElementsBatch, type ExportFormat, type LinesBatch } from './readers.js';

export interface StageFilesOptions {
  store: Store;
  job: LoadedJob;
  files: readonly string[];
  /** Parser threads; 0 parses on the main thread. Default: one per core but one (at least 1, at most 2), when running from the built package. */
  workers?: number;
  /** Records per store transaction (default 5,000). */
  commitEvery?: number;
  /** Called after each commit with the records staged so far. */
  onProgress?: (records: number) => void;
  /**
   * Stops staging when aborted: no batch is read or applied after it, what was applied is committed (whole
   * batches in file order: a prefix of the files) and the report says `interrupted`. Loading the same files
   * again adds exactly the rest.
   */
  signal?: AbortSignal;
}

export interface FileReport {
  file: string;
  format: ExportFormat;
  records: number;
  invalid: number;
  /** Invalid lines of an earlier load of this file that it no longer has (corrected or removed): dropped. */
  cleared: number;
}

export interface StageReport {
  job: string;
  /** What was staged and committed (all of it, also when interrupted). */
  counts: StageCounts;
  /** The files started, in order; when interrupted, the last one may be staged in part. */
  files: FileReport[];
  /** Stopped by `signal` before the end of the files. */
  interrupted: boolean;
}

interface Pending {
  resolve: (r: ParsedBatch) => void;
  reject: (e: Error) => void;
}

/** A few parser threads, used round-robin; results come back by sequence number. */
class ParsePool {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  /**
   * Batch buffers back from the parsers whose records are staged: the next batches are copied into them.
   * A new buffer per batch (~5,000 per GB of export) piled up outside the V8 heap until a full GC: peak RSS
   * of a 1,000,000-ticket load was 180-207 MB with them (one run 143), 144-162 MB with reuse (7 runs each).
   */
  readonly #spare: ArrayBuffer[] = [];
  /** Results of this pool, whose buffers are spares (a batch parsed on the main thread keeps the reader's). */
  readonly #mine = new WeakSet<ParsedBatch>();
  #next = 0;
  #failure: Error | null = null;

  static async create(n: number, job: LoadedJob): Promise<ParsePool> {
    const pool = new ParsePool();
    const ready: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL('./parse-worker.js', import.meta.url), {
        workerData: { jobFile: job.file, jobName: job.job.name },
        // Parsing makes short-lived garbage only: a small young generation keeps each thread's footprint small.
        resourceLimits: { maxYoungGenerationSizeMb: 8 },
      });
      ready.push(
        new Promise<void>((resolve, reject) => {
          w.once('error', reject);
          w.once('message', () => resolve());
        }),
      );
      w.on('message', (m: { seq?: number; result?: ParsedBatch; error?: string }) => {
        if (m.seq === undefined) return;
        const p = pool.#pending.get(m.seq);
        pool.#pending.delete(m.seq);
        if (m.error !== undefined) p?.reject(new Error(`A parser thread failed: ${m.error}`));
        else {
          pool.#mine.add(m.result!);
          p?.resolve(m.result!);
        }
      });
      w.on('error', (err) => pool.#fail(err));
      w.on('exit', (code) => {
        if (code !== 0) pool.#fail(new Error(`A parser thread exited with code ${code}`));
      });
      pool.#workers.push(w);
    }
    try {
      await Promise.all(ready);
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  parse(seq: number, batch: LinesBatch | ElementsBatch, file: string): Promise<ParsedBatch> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, { resolve, reject });
      // Transferred, not cloned (a clone copies the whole ArrayBuffer under the view, and slowly): into a copy
      // that owns its memory, since the reader's chunks may share theirs. The worker hands it back with the result.
      const n = batch.buf.byteLength;
      let spare = this.#spare.pop();
      if (spare !== undefined && spare.byteLength < n) {
        this.#spare.push(spare); // kept for the next batch of the usual size
        spare = undefined;
      }
      spare ??= new ArrayBuffer(Math.max(n, SPARE_BYTES));
      const own = new Uint8Array(spare, 0, n);
      own.set(batch.buf);
      this.#workers[this.#next++ % this.#workers.length]!.postMessage({ seq, batch: { ...batch, buf: own }, file }, [spare]);
    });
  }

  /** Batches handed to the parsers and not back yet. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Takes back the buffer of a batch once its records are staged (SQLite copied what it keeps of them). */
  recycle(r: ParsedBatch): void {
    if (!this.#mine.has(r)) return;
    const b = r.buf.buffer as ArrayBuffer;
    // A batch holding one huge record keeps its own buffer: the spares stay batch-sized.
    if (b.byteLength === SPARE_BYTES && this.#spare.length < MAX_SPARES) this.#spare.push(b);
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

/** A batch is BATCH_BYTES and the rest of the line it ends in: room for lines up to ~64 KB past the mark. */
const SPARE_BYTES = BATCH_BYTES + 64 * 1024;
/** More than the batches ever in flight (32 per parser, at most 2 parsers): the rest are dropped. */
const MAX_SPARES = 72;

/** Parser threads that `load --workers` accepts: 1 to this. */
export const MAX_WORKERS = 2;

/** Parser threads when the built package stages files and `workers` is not given. */
export function defaultParserThreads(): number {
  // The writer (this thread) needs a core of its own: parsing and writing cost about the same per record, so
  // a parser per remaining core, and two keep the writer busy. On 2 cores a second parser only takes turns
  // with the writer, and its heap added ~60 MB of peak RSS.
  return Math.max(1, Math.min(MAX_WORKERS, os.availableParallelism() - 1));
}

function defaultWorkers(): number {
  // Worker threads need the compiled parse-worker.js; from the TypeScript sources, parse in-process.
  if (import.meta.url.endsWith('.ts')) return 0;
  return defaultParserThreads();
}

export async function stageFiles(opts: StageFilesOptions): Promise<StageReport> {
  const { store, job } = opts;
  const name = job.job.name;
  // A commit writes the transaction to the WAL and now and then checkpoints it, while parsers can only fill
  // the queue below: 5,000 records (~6 MB) keep that pause short enough for them not to run dry.
  const commitEvery = opts.commitEvery ?? 5_000;
  const nWorkers = opts.workers ?? defaultWorkers();
  const pool = nWorkers > 0 && !opts.signal?.aborted ? await ParsePool.create(nWorkers, job) : null;
  const counts: StageCounts = { new: 0, unchanged: 0, changed: 0, invalid: 0 };
  const files: FileReport[] = [];
  let staged = 0;
  let uncommitted = 0;
  let open = false;
  let seq = 0;
  let interrupted = false;
  // Asked where work is left (a batch read or parsed and not applied, a file not read): true once the signal
  // has aborted, and the load is then cut short there.
  const stopHere = () => (interrupted ||= opts.signal?.aborted === true);
  const add = (c: StageCounts) => {
    counts.new += c.new;
    counts.unchanged += c.unchanged;
    counts.changed += c.changed;
    counts.invalid += c.invalid;
  };
  const begin = () => {
    if (!open) store.beginStaging();
    open = true;
  };
  const commit = () => {
    store.commitStaging();
    open = false;
    staged += uncommitted;
    uncommitted = 0;
    opts.onProgress?.(staged);
  };
  // Batches in flight (read, being parsed, or parsed and waiting for their turn): bounded, so memory stays
  // constant whatever the file size (~8 MB of batches per parser), and deep enough that a parser keeps
  // working through a commit. 3 per parser left it idle a quarter of the time (measured per thread).
  const maxQueued = Math.max(2, nWorkers * 32);
  // When this many batches wait for each parser thread (16 are ~35 ms of parsing), this thread parses the next
  // one itself instead of waiting, so a parser that falls behind does not hold up the load. Not sooner: this
  // thread learns that a parser finished a batch only when it next yields to the event loop, so a lower mark
  // (8 of 16) had it parsing while the parser sat idle (profiled on 2 cores: parser idle 15 %, this thread
  // 5 %; with this mark both ~5 %, and 200,000 tickets staged ~5 % faster, medians of 3 alternating runs).
  const parseHereAt = nWorkers * 16;
  // Cleared once every file is staged: until then, `run` refuses the job (see Store.setUnfinishedLoad).
  if (!stopHere()) store.setUnfinishedLoad(name, { files: [...opts.files], startedAt: Date.now() });
  try {
    // Records are written once instead of twice (see Store.beginLoad); a store someone else has open loads as it is.
    store.beginLoad();
    for (const file of opts.files) {
      if (stopHere()) break;
      const report: FileReport = { file, format: 'ndjson', records: 0, invalid: 0, cleared: 0 };
      files.push(report);
      // Each parsed batch goes to SQLite as soon as it is its turn (file order), inside one transaction per
      // `commitEvery` records: SQLite work interleaves with parsing instead of stalling the parsers.
      const apply = (r: ParsedBatch) => {
        const buf = Buffer.from(r.buf.buffer, r.buf.byteOffset, r.buf.byteLength);
        const nums = r.nums;
        const recs: StageRecord[] = new Array(r.n);
        for (let i = 0; i < r.n; i++) {
          const index = nums[i * 4 + 3]!;
          recs[i] = {
            sourceId: r.sourceIds[i]!,
            payload: buf.subarray(nums[i * 4]!, nums[i * 4 + 1]!),
            hash: r.hashes.slice(i * HASH_CHARS, (i + 1) * HASH_CHARS),
            line: nums[i * 4 + 2]!,
            index: index >= 0 ? index : undefined,
            reason: undefined,
          };
        }
        for (const [i, reason] of r.reasons) recs[i]!.reason = reason;
        for (const [i, json] of r.json) recs[i]!.payload = json;
        report.invalid += r.reasons.length;
        report.records += r.n;
        begin();
        add(store.stage(name, file, recs));
        pool?.recycle(r);
        uncommitted += r.n;
        if (uncommitted >= commitEvery) commit();
      };
      const queue: Promise<ParsedBatch>[] = [];
      // On a stop, the batches still queued are dropped unapplied (their promises are handled, see below).
      const drain = async () => {
        while (queue.length) {
          const r = await queue.shift()!;
          if (stopHere()) return;
          apply(r);
        }
      };
      try {
        for await (const b of readBatches(file, job.job.resource, (f) => (report.format = f))) {
          if (stopHere()) break;
          if (b.kind === 'problem') {
            await drain();
            if (interrupted) break;
            const reason = `${file}: ${b.reason}`;
            begin();
            add(store.stage(name, file, [{ sourceId: lineKey(file, b.line), payload: '', hash: hash('sha1', reason, 'base64url'), line: b.line, reason }]));
            uncommitted++;
            report.records++;
            report.invalid++;
            continue;
          }
          const s = seq++;
          const result = pool && pool.inFlight < parseHereAt ? pool.parse(s, b, file) : Promise.resolve(parseBatch(job.job, b, file));
          result.catch(() => {}); // awaited in order below; this only keeps an early failure from being reported as unhandled
          queue.push(result);
          while (queue.length >= maxQueued) {
            const r = await queue.shift()!;
            if (stopHere()) break;
            apply(r);
          }
          if (interrupted) break;
        }
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        // The file cannot be read past some point (a damaged .gz, a file gone). What was read before it is whole
        // records in file order, as at a stop: staged and kept, so the files before it are not lost either.
        await drain();
        if (open) commit();
        throw new UsageError(
          `${err.message} ${staged.toLocaleString('en-US')} records of this load (the files before it, and ${report.records.toLocaleString('en-US')} read from this one) are staged and kept; nexus-backfill run refuses ${name} until a load of it finishes. Fix or re-download the file, then run the same load again (records staged already add nothing).`,
          { cause: err },
        );
      }
      await drain();
      if (interrupted) break;
      // The whole file is staged: its invalid lines that were corrected (or are gone) go.
      begin();
      report.cleared = store.dropStaleLineKeys(name, file);
    }
    // Also on a stop: the open transaction holds whole batches applied in file order (apply() is synchronous,
    // so a signal is handled between two of them, never inside one), and committing it keeps a prefix.
    if (open) commit();
    if (!interrupted) store.setUnfinishedLoad(name, null);
  } catch (err) {
    // Whole records or nothing: what was staged since the last commit is dropped, loading again adds it.
    store.rollbackStaging();
    throw err;
  } finally {
    await pool?.close();
    store.endLoad();
  }
  return { job: name, counts, files, interrupted };
}
