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
 * exactly the rest (staging is idempotent by content hash).
 */
import { Worker } from 'node:worker_threads';
import os from 'node:os';
import { hash } from 'node:crypto';
import type { Store, StageCounts, StageRecord } from '../store/index.js';
import { lineKey } from '../store/index.js';
import type { LoadedJob } from './job-loader.js';
import { parseBatch, type ParsedBatch } from './parse-records.js';
import { readBatches, type ElementsBatch, type ExportFormat, type LinesBatch } from './readers.js';

export interface StageFilesOptions {
  store: Store;
  job: LoadedJob;
  files: readonly string[];
  /** Parser threads; 0 parses on the main thread. Default: one per core, at most 2, when running from the built package. */
  workers?: number;
  /** Records per store transaction (default 20,000). */
  commitEvery?: number;
  /** Called after each commit with the records staged so far. */
  onProgress?: (records: number) => void;
}

export interface FileReport {
  file: string;
  format: ExportFormat;
  records: number;
  invalid: number;
}

export interface StageReport {
  job: string;
  counts: StageCounts;
  files: FileReport[];
}

interface Pending {
  resolve: (r: ParsedBatch) => void;
  reject: (e: Error) => void;
}

/** A few parser threads, used round-robin; results come back by sequence number. */
class ParsePool {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #failure: Error | null = null;

  static async create(n: number, job: LoadedJob): Promise<ParsePool> {
    const pool = new ParsePool();
    const ready: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL('./parse-worker.js', import.meta.url), { workerData: { jobFile: job.file, jobName: job.job.name } });
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
        else p?.resolve(m.result!);
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
      this.#workers[this.#next++ % this.#workers.length]!.postMessage({ seq, batch, file });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}

function defaultWorkers(): number {
  // Worker threads need the compiled parse-worker.js; from the TypeScript sources, parse in-process.
  if (import.meta.url.endsWith('.ts')) return 0;
  return Math.min(2, os.availableParallelism());
}

export async function stageFiles(opts: StageFilesOptions): Promise<StageReport> {
  const { store, job } = opts;
  const name = job.job.name;
  const commitEvery = opts.commitEvery ?? 20_000;
  const nWorkers = opts.workers ?? defaultWorkers();
  const pool = nWorkers > 0 ? await ParsePool.create(nWorkers, job) : null;
  const counts: StageCounts = { new: 0, unchanged: 0, changed: 0, invalid: 0 };
  const files: FileReport[] = [];
  let staged = 0;
  let seq = 0;
  try {
    for (const file of opts.files) {
      const report: FileReport = { file, format: 'ndjson', records: 0, invalid: 0 };
      files.push(report);
      let acc: StageRecord[] = [];
      const commit = () => {
        if (acc.length === 0) return;
        const c = store.stage(name, file, acc);
        counts.new += c.new;
        counts.unchanged += c.unchanged;
        counts.changed += c.changed;
        counts.invalid += c.invalid;
        staged += acc.length;
        acc = [];
        opts.onProgress?.(staged);
      };
      const apply = (batch: LinesBatch | ElementsBatch, r: ParsedBatch) => {
        for (let i = 0; i < r.n; i++) {
          const reason = r.reasons[i];
          const json = r.json[i];
          acc.push({
            sourceId: r.sourceIds[i]!,
            payload: json ?? batch.buf.subarray(r.starts[i], r.ends[i]),
            hash: r.hashes[i]!,
            line: r.lines[i]!,
            ...(r.indexes[i]! >= 0 ? { index: r.indexes[i]! } : {}),
            ...(reason !== null && reason !== undefined ? { reason } : {}),
          });
          if (reason !== null) report.invalid++;
        }
        report.records += r.n;
        if (acc.length >= commitEvery) commit();
      };
      const queue: { batch: LinesBatch | ElementsBatch; result: Promise<ParsedBatch> }[] = [];
      const maxQueued = Math.max(2, nWorkers * 2);
      for await (const b of readBatches(file, job.job.resource, (f) => (report.format = f))) {
        if (b.kind === 'problem') {
          while (queue.length) {
            const q = queue.shift()!;
            apply(q.batch, await q.result);
          }
          const reason = `${file}: ${b.reason}`;
          acc.push({ sourceId: lineKey(file, b.line), payload: '', hash: hash('sha1', reason, 'base64url'), line: b.line, reason });
          report.records++;
          report.invalid++;
          continue;
        }
        const s = seq++;
        const result = pool ? pool.parse(s, b, file) : Promise.resolve(parseBatch(job.job, b, file));
        result.catch(() => {}); // awaited in order below; this only keeps an early failure from being reported as unhandled
        queue.push({ batch: b, result });
        while (queue.length >= maxQueued) {
          const q = queue.shift()!;
          apply(q.batch, await q.result);
        }
      }
      while (queue.length) {
        const q = queue.shift()!;
        apply(q.batch, await q.result);
      }
      commit();
    }
  } finally {
    await pool?.close();
  }
  return { job: name, counts, files };
}
