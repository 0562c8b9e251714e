/**
 * What the store keeps about runs rather than items (split from
 * checkpoint-store.ts, which owns the connection, the transactions and the
 * error translation): the runs table, the per-second metrics kept across
 * resumed runs, the durable send log of the rate limiter and the limiter's
 * saved state.
 */
import type Database from 'better-sqlite3';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { LATENCY_BUCKETS_MS } from './metrics.js';
import type { MetricsRow, RunInfo, UnfinishedLoad } from './types.js';

const HIST_COLS = Array.from({ length: LATENCY_BUCKETS_MS.length + 1 }, (_, i) => `h${i}`);
const LIMITER_KEY = 'limiter';
/** kv keys `load:<job>`: a `load` of that job started and has not finished (see Store.setUnfinishedLoad). */
const LOAD_KEY = 'load:';

type Row = Record<string, any>;

/** Options of runs may carry anything the engine chose to record; keys that look secret are never stored. */
function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, /(secret|token|password|api[-_]?key|authorization|credentials?)$/i.test(k) ? '[redacted]' : redact(v)]),
    );
  }
  return value;
}

export class RunLog {
  readonly #s: Record<string, Database.Statement>;

  constructor(db: Database.Database, writer: boolean) {
    this.#s = {
      runs: db.prepare(`SELECT * FROM runs ORDER BY started_at DESC, id DESC LIMIT ?`),
      metricsAll: db.prepare(`SELECT * FROM metrics ORDER BY second, run_id`),
      metricsRun: db.prepare(`SELECT * FROM metrics WHERE run_id = ? ORDER BY second`),
      recentSends: db.prepare(`SELECT at, n FROM send_log WHERE at >= ? ORDER BY at`),
      kvGet: db.prepare(`SELECT value FROM kv WHERE key = ?`),
      kvPrefix: db.prepare(`SELECT key, value FROM kv WHERE key >= ? AND key < ?`),
    };
    if (writer) {
      Object.assign(this.#s, {
        runInsert: db.prepare(`INSERT INTO runs (id, started_at, jobs, options, pid, host) VALUES (?, ?, ?, ?, ?, ?)`),
        runFinish: db.prepare(`UPDATE runs SET finished_at = ?, outcome = ?, summary = ? WHERE id = ?`),
        metrics: db.prepare(`INSERT INTO metrics (run_id, second, sends, r2xx, r4xx, r429, r5xx, rnet, done, ${HIST_COLS.join(', ')})
          VALUES (${new Array(9 + HIST_COLS.length).fill('?').join(', ')})
          ON CONFLICT (run_id, second) DO UPDATE SET sends = sends + excluded.sends, r2xx = r2xx + excluded.r2xx, r4xx = r4xx + excluded.r4xx,
            r429 = r429 + excluded.r429, r5xx = r5xx + excluded.r5xx, rnet = rnet + excluded.rnet, done = done + excluded.done,
            ${HIST_COLS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`),
        sendLog: db.prepare(`INSERT INTO send_log (at, n) VALUES (?, ?) ON CONFLICT (at) DO UPDATE SET n = n + excluded.n`),
        // Unused reservations handed back (see src/engine/send-ledger.ts): never below zero, never a new row.
        sendUnlog: db.prepare(`UPDATE send_log SET n = max(n - ?, 0) WHERE at = ?`),
        sendPrune: db.prepare(`DELETE FROM send_log WHERE at < ?`),
        kvSet: db.prepare(`INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
        kvDelete: db.prepare(`DELETE FROM kv WHERE key = ?`),
      });
    }
  }

  startRun(jobs: readonly string[], options: unknown, now: number): string {
    const id = `run-${new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
    this.#s.runInsert!.run(id, now, JSON.stringify(jobs), JSON.stringify(redact(options) ?? null), process.pid, os.hostname());
    return id;
  }

  finishRun(runId: string, outcome: string, summary: unknown, now: number): void {
    this.#s.runFinish!.run(now, outcome, JSON.stringify(redact(summary) ?? null), runId);
  }

  listRuns(limit: number): RunInfo[] {
    return (this.#s.runs!.all(limit) as Row[]).map((r) => ({
      id: r.id,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      jobs: JSON.parse(r.jobs),
      options: JSON.parse(r.options),
      outcome: r.outcome,
      summary: r.summary === null ? null : JSON.parse(r.summary),
      pid: r.pid,
      host: r.host,
    }));
  }

  /** Adds to the per-second rows (a resumed run's second may already have one); inside the caller's transaction. */
  writeMetrics(rows: readonly MetricsRow[]): void {
    for (const m of rows) {
      const hist = HIST_COLS.map((_, i) => m.latency[i] ?? 0);
      this.#s.metrics!.run(m.runId, m.second, m.sends, m.responses['2xx'], m.responses['4xx'], m.responses['429'], m.responses['5xx'], m.responses.network, m.itemsDone, ...hist);
    }
  }

  readMetrics(runId?: string): MetricsRow[] {
    const rows = (runId === undefined ? this.#s.metricsAll!.all() : this.#s.metricsRun!.all(runId)) as Row[];
    return rows.map((r) => ({
      runId: r.run_id,
      second: r.second,
      sends: r.sends,
      responses: { '2xx': r.r2xx, '4xx': r.r4xx, '429': r.r429, '5xx': r.r5xx, network: r.rnet },
      itemsDone: r.done,
      latency: HIST_COLS.map((c) => r[c] as number),
    }));
  }

  recordSend(atMs: number, count: number): void {
    if (count > 0) this.#s.sendLog!.run(atMs, count);
    else if (count < 0) this.#s.sendUnlog!.run(-count, atMs);
  }

  recentSends(sinceMs: number): number[] {
    const out: number[] = [];
    for (const r of this.#s.recentSends!.iterate(sinceMs) as IterableIterator<Row>) for (let i = 0; i < r.n; i++) out.push(r.at);
    return out;
  }

  pruneSends(beforeMs: number): number {
    return this.#s.sendPrune!.run(beforeMs).changes;
  }

  saveLimiterState(json: string, now: number): void {
    this.#s.kvSet!.run(LIMITER_KEY, json, now);
  }

  loadLimiterState(): string | null {
    return ((this.#s.kvGet!.get(LIMITER_KEY) as Row | undefined)?.value as string | undefined) ?? null;
  }

  /** See Store.setUnfinishedLoad. */
  setUnfinishedLoad(job: string, load: UnfinishedLoad | null, now: number): void {
    if (load) this.#s.kvSet!.run(LOAD_KEY + job, JSON.stringify(load), now);
    else this.#s.kvDelete!.run(LOAD_KEY + job);
  }

  unfinishedLoads(): Record<string, UnfinishedLoad> {
    const out: Record<string, UnfinishedLoad> = {};
    // Key range of the prefix: every key that starts with LOAD_KEY sorts between it and LOAD_KEY + U+FFFF.
    for (const r of this.#s.kvPrefix!.iterate(LOAD_KEY, `${LOAD_KEY}\uffff`) as IterableIterator<Row>) {
      out[(r.key as string).slice(LOAD_KEY.length)] = JSON.parse(r.value as string) as UnfinishedLoad;
    }
    return out;
  }
}
