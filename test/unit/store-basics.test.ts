import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, SCHEMA_VERSION, percentile, type StageRecord, type Store } from '../../src/store/index.js';
import { StoreError } from '../../src/errors.js';

let dir: string;
let file: string;
const opened: Store[] = [];

function open(mode: 'writer' | 'reader' = 'writer', extra: Record<string, unknown> = {}): Store {
  const s = openStore(file, { mode, command: 'test', ...extra });
  opened.push(s);
  return s;
}

function rec(id: number | string, body: unknown = { id, v: 1 }, line = 1): StageRecord {
  const payload = JSON.stringify(body);
  return { sourceId: String(id), payload, hash: `h:${payload}`, line };
}

function storeError(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return err as StoreError;
  }
  throw new Error('expected a StoreError');
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nb-store-'));
  file = path.join(dir, 'sub', 'store.sqlite');
});
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('opening', () => {
  it('creates the store, its -wal and -shm with mode 0600', () => {
    const s = open();
    s.stage('j', 'f', [rec(1)]);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) {
      expect(existsSync(f), f).toBe(true);
      expect(statSync(f).mode & 0o777, f).toBe(0o600);
    }
  });

  it('refuses a second writer in a live process, naming pid, host and since', () => {
    open();
    const err = storeError(() => open());
    expect(err.code).toBe('store_locked');
    expect(err.message).toContain(`pid ${process.pid}`);
    expect(err.message).toContain(os.hostname());
    expect(err.message).toMatch(/since \d{4}-\d\d-\d\dT/);
  });

  it('takes over a lock whose holder is gone, and readers need no lock', () => {
    open().close();
    opened.length = 0;
    const raw = new Database(file);
    raw.prepare(`INSERT INTO writer_lock (id, pid, host, proc_start, command, since) VALUES (1, 999999999, ?, NULL, 'run', 0)`).run(os.hostname());
    raw.close();
    const r = open('reader');
    // The row is still there, but its process is not: nobody holds the store.
    expect(r.lockHolder()).toBeNull();
    const w = open();
    expect(w.lockHolder()?.pid).toBe(process.pid);
  });

  it('refuses a store of a newer schema, without changing it', () => {
    open().close();
    opened.length = 0;
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    const before = statSync(file).mtimeMs;
    const err = storeError(() => open());
    expect(err.code).toBe('store_newer');
    expect(err.message).toMatch(/newer nexus-backfill.*Upgrade/);
    expect(storeError(() => open('reader')).code).toBe('store_newer');
    expect(statSync(file).mtimeMs).toBe(before);
  });

  it('refuses a file that is not SQLite, an SQLite file of another program, and a corrupt one', () => {
    writeFileSync(file.replace('sub/', ''), 'id,name\n1,a\n');
    file = file.replace('sub/', '');
    expect(storeError(() => open()).code).toBe('store_foreign');

    file = path.join(dir, 'other.sqlite');
    const raw = new Database(file);
    raw.exec('CREATE TABLE t (x)');
    raw.close();
    expect(storeError(() => open()).code).toBe('store_foreign');

    file = path.join(dir, 'corrupt.sqlite');
    open().close();
    opened.length = 0;
    const bytes = Buffer.alloc(8192, 0xa5);
    Buffer.from('SQLite format 3\0').copy(bytes);
    writeFileSync(file, bytes);
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    expect(storeError(() => open()).code).toBe('store_corrupt');
  });

  it('reports a read-only store and a missing one clearly', () => {
    expect(storeError(() => open('reader')).message).toMatch(/no checkpoint store .* yet.*load/);
    open().close();
    opened.length = 0;
    chmodSync(file, 0o400);
    if (process.getuid?.() === 0) return; // root writes anyway
    expect(storeError(() => open()).code).toBe('store_readonly');
  });

  it('a full disk fails the batch whole (store_full) and keeps earlier batches', () => {
    const s = open('writer', { maxPageCount: 60 });
    s.stage('j', 'f', [rec(1)]);
    const big = Array.from({ length: 400 }, (_, i) => rec(i + 10, { id: i + 10, pad: 'x'.repeat(2000) }));
    const err = storeError(() => s.stage('j', 'f', big));
    expect(err.code).toBe('store_full');
    expect(s.counts(['j']).j!.pending).toBe(1);
  });
});

describe('staging and outcomes', () => {
  it('adds new items, ignores unchanged ones, updates changed pending ones', () => {
    const s = open();
    expect(s.stage('j', 'a.ndjson', [rec(1), rec(2)])).toEqual({ new: 2, unchanged: 0, changed: 0, invalid: 0 });
    expect(s.stage('j', 'a.ndjson', [rec(1), rec(2, { id: 2, v: 2 })])).toEqual({ new: 0, unchanged: 1, changed: 1, invalid: 0 });
    expect(JSON.parse(s.getItem('j', '2')!.payload!)).toEqual({ id: 2, v: 2 });
    expect(s.stage('j', 'a.ndjson', [{ sourceId: '!a.ndjson:3', payload: 'nope', hash: 'x', line: 3, reason: 'not valid JSON' }])).toEqual({ new: 0, unchanged: 0, changed: 0, invalid: 1 });
    const bad = s.getItem('j', '!a.ndjson:3')!;
    expect(bad).toMatchObject({ state: 'invalid', file: 'a.ndjson', line: 3, reason: 'not valid JSON' });
  });

  it('new records share segments; a batch with a known or repeated id falls back record by record, same result', () => {
    const s = open();
    // 40 records span three segments; multi-byte text checks that slices are cut at byte offsets.
    const first = Array.from({ length: 40 }, (_, i) => rec(i + 1, { id: i + 1, text: `ü€😀 ${'x'.repeat(i)}` }, i + 1));
    expect(s.stage('j', 'a.ndjson', first)).toEqual({ new: 40, unchanged: 0, changed: 0, invalid: 0 });
    // Known ids mixed with new ones, and id 50 twice in one batch: the last one wins.
    const second = [rec(41), first[4]!, rec(50, { id: 50, v: 1 }), rec(50, { id: 50, v: 2 }), rec(7, { id: 7, v: 'changed' })];
    expect(s.stage('j', 'a.ndjson', second)).toEqual({ new: 2, unchanged: 1, changed: 2, invalid: 0 });
    expect(s.counts(['j']).j!.pending).toBe(42);
    const records = new Map([...s.iterateRecords('j')].map((r) => [r.sourceId, r.record]));
    expect(records.get('1')).toEqual({ id: 1, text: 'ü€😀 ' });
    expect(records.get('40')).toEqual({ id: 40, text: `ü€😀 ${'x'.repeat(39)}` });
    expect(records.get('50')).toEqual({ id: 50, v: 2 });
    expect(records.get('7')).toEqual({ id: 7, v: 'changed' });
    const claimed = new Map(s.claimDue('j', 100, 1000).map((it) => [it.sourceId, JSON.parse(it.payload)]));
    expect(claimed.size).toBe(42);
    for (const [id, record] of records) expect(claimed.get(id)).toEqual(record);
  });

  it('claims due items inflight, records done with the id map, and a later change becomes a pending update', () => {
    const s = open();
    s.stage('j', 'f', [rec(1), rec(2)]);
    const page = s.claimDue('j', 10, 1000);
    expect(page.map((i) => [i.key, i.mode, i.sends, i.firstSentAt, i.file, i.line])).toEqual([
      ['j:1', 'create', 1, 1000, 'f', 1],
      ['j:2', 'create', 1, 1000, 'f', 1],
    ]);
    expect(s.claimDue('j', 10, 1000)).toEqual([]);
    expect(s.refState('j', '1')).toEqual({ state: 'inflight' });
    s.recordOutcomes({ outcomes: [{ id: page[0]!.id, kind: 'done', targetId: 'T1' }] });
    expect(s.refState('j', '1')).toEqual({ state: 'done', targetId: 'T1' });
    expect(s.refState('j', '404')).toEqual({ state: 'absent' });
    expect(s.refState('nojob', '1')).toEqual({ state: 'absent' });

    expect(s.stage('j', 'f', [rec(1, { id: 1, v: 9 })]).changed).toBe(1);
    const [upd] = s.claimDue('j', 10, 2000);
    expect(upd).toMatchObject({ key: 'j:1', mode: 'update', targetId: 'T1', sends: 1, attempts: 0 });
    expect(JSON.parse(upd!.payload)).toEqual({ id: 1, v: 9 });
  });

  it('an inflight item keeps the body it was sent with; the change waits and is sent as an update after it', () => {
    const s = open();
    s.stage('j', 'f', [rec(1)]);
    const [first] = s.claimDue('j', 1, 1000);
    // a run crashed here; a newer export is loaded
    expect(s.stage('j', 'f', [rec(1, { id: 1, v: 2 })]).changed).toBe(1);
    expect(s.getItem('j', '1')).toMatchObject({ state: 'inflight', hasPendingChange: true });
    expect(s.recoverInflight()).toBe(1);
    const [again] = s.claimDue('j', 1, 2000);
    expect(again).toMatchObject({ id: first!.id, payload: first!.payload, hash: first!.hash, sends: 2, firstSentAt: 1000, mode: 'create' });
    // a retry keeps the body locked too
    s.recordOutcomes({ outcomes: [{ id: again!.id, kind: 'retry', nextAttemptAt: 2500, countsAsAttempt: true, status: 503, code: 'unavailable' }] });
    expect(s.stage('j', 'f', [rec(1, { id: 1, v: 3 })]).changed).toBe(1);
    const [third] = s.claimDue('j', 1, 3000);
    expect(third).toMatchObject({ payload: first!.payload, attempts: 1, sends: 3 });
    s.recordOutcomes({ outcomes: [{ id: third!.id, kind: 'done', targetId: 'T1' }] });
    const [update] = s.claimDue('j', 1, 4000);
    expect(update).toMatchObject({ mode: 'update', targetId: 'T1', sends: 1, attempts: 0 });
    expect(JSON.parse(update!.payload)).toEqual({ id: 1, v: 3 });
  });

  it('counts 429s as sends, not attempts; wait and release undo the claimed send', () => {
    const s = open();
    s.stage('j', 'f', [rec(1), rec(2), rec(3)]);
    const [a, b, c] = s.claimDue('j', 3, 1000);
    s.recordOutcomes({
      outcomes: [
        { id: a!.id, kind: 'retry', nextAttemptAt: 5000, countsAsAttempt: false, status: 429, code: 'rate_limited' },
        { id: b!.id, kind: 'wait', reason: 'requester_id points at zendesk-users:7, which is pending', nextAttemptAt: 3000 },
        { id: c!.id, kind: 'release' },
      ],
    });
    expect(s.getItem('j', '1')).toMatchObject({ state: 'pending', sends: 1, attempts: 0, error: { status: 429, code: 'rate_limited' } });
    expect(s.getItem('j', '2')).toMatchObject({ state: 'pending', sends: 0, attempts: 0 });
    expect(s.getItem('j', '3')).toMatchObject({ state: 'pending', sends: 0 });
    expect(s.claimDue('j', 10, 2000).map((i) => i.key)).toEqual(['j:3']);
    expect(s.nextDueAt('j')).toBe(3000);
    expect(s.claimDue('j', 10, 5000).map((i) => [i.key, i.firstSentAt])).toEqual([
      ['j:2', 5000],
      ['j:1', 1000],
    ]);
  });

  it('failed and dead items, retry, counts and export iteration', () => {
    const s = open();
    s.stage('j', 'f', [rec(1), rec(2), rec(3)]);
    const [a, b, c] = s.claimDue('j', 3, 1000);
    s.recordOutcomes({
      outcomes: [
        { id: a!.id, kind: 'failed', status: 422, code: 'validation_failed', message: 'subject: required', body: '{"error":{}}' },
        { id: b!.id, kind: 'dead', status: 503, code: 'unavailable', message: 'gave up after 8 attempts' },
        { id: c!.id, kind: 'done', targetId: 'T3' },
      ],
    });
    expect(s.counts(['j', 'empty'])).toEqual({
      j: { pending: 0, inflight: 0, done: 1, failed: 1, dead: 1, invalid: 0 },
      empty: { pending: 0, inflight: 0, done: 0, failed: 0, dead: 0, invalid: 0 },
    });
    expect([...s.iterateItems('j', ['failed', 'dead'])].map((i) => [i.key, i.error?.status, i.error?.message])).toEqual([
      ['j:1', 422, 'subject: required'],
      ['j:2', 503, 'gave up after 8 attempts'],
    ]);
    expect(s.retry('j', 'failed')).toBe(1);
    expect(s.retry('j')).toBe(1);
    expect(s.counts(['j']).j).toMatchObject({ pending: 2, failed: 0, dead: 0 });
    expect(s.getItem('j', '2')).toMatchObject({ attempts: 0, sends: 1 });
  });

  it('keeps runs, additive per-second metrics and limiter state; never stores secrets', () => {
    const s = open();
    const run = s.startRun(['j'], { concurrency: 8, clientSecret: 's3cret', nested: { api_key: 'nxk_x' } });
    const hist = new Array(22).fill(0);
    hist[3] = 5;
    const row = { runId: run, second: 100, sends: 5, responses: { '2xx': 4, '4xx': 0, '429': 1, '5xx': 0, network: 0 }, itemsDone: 4, latency: hist };
    s.recordOutcomes({ outcomes: [], metrics: [row] });
    s.recordOutcomes({ outcomes: [], metrics: [row] });
    s.finishRun(run, 'completed', { requests: 10 });
    const [m] = s.readMetrics(run);
    expect(m).toMatchObject({ second: 100, sends: 10, itemsDone: 8, responses: { '2xx': 8, '429': 2 } });
    expect(percentile(m!.latency, 50)).toBe(30);
    const [r] = s.listRuns();
    expect(r).toMatchObject({ id: run, outcome: 'completed', summary: { requests: 10 } });
    expect(JSON.stringify(r!.options)).not.toMatch(/s3cret|nxk_x/);
    s.saveLimiterState('{"sent":[1,2,3]}');
    expect(s.loadLimiterState()).toBe('{"sent":[1,2,3]}');
  });
});
