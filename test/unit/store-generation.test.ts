/**
 * Key generations (ClaimedItem.generation), the durable send log, and the
 * forward migration of a store written by schema 1.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, SCHEMA_VERSION, type ItemError, type StageRecord, type Store } from '../../src/store/index.js';
import { APPLICATION_ID, MIGRATIONS } from '../../src/store/migrations.js';

let dir: string;
let file: string;
const opened: Store[] = [];

function open(): Store {
  const s = openStore(file, { mode: 'writer', command: 'test' });
  opened.push(s);
  return s;
}

function rec(id: number, v = 1): StageRecord {
  const payload = JSON.stringify({ id, v });
  return { sourceId: String(id), payload, hash: `h:${payload}`, line: id };
}

/** Stages one item, sends it, and records `outcome` for it; returns the store. */
function failWith(s: Store, id: number, outcome: 'failed' | 'dead', error: ItemError & { unsent?: boolean }): void {
  s.stage('j', 'f', [rec(id)]);
  const [item] = s.claimDue('j', 1, 1000);
  expect(item!.sourceId).toBe(String(id));
  s.recordOutcomes({ outcomes: [{ id: item!.id, kind: outcome, ...error }] });
}

function claimOne(s: Store) {
  const [item] = s.claimDue('j', 1, 10_000);
  return item!;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nb-gen-'));
  file = path.join(dir, 'store.sqlite');
});
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('key generations', () => {
  it('start at 0', () => {
    const s = open();
    s.stage('j', 'f', [rec(1)]);
    expect(claimOne(s).generation).toBe(0);
  });

  it('retry of an item that failed with a 4xx the server keeps gives it a new generation, each time', () => {
    const s = open();
    failWith(s, 1, 'failed', { status: 422, code: 'validation_failed' });
    expect(s.retry('j')).toBe(1);
    const again = claimOne(s);
    expect(again).toMatchObject({ generation: 1, sends: 1, mode: 'create' });
    s.recordOutcomes({ outcomes: [{ id: again.id, kind: 'failed', status: 403, code: 'brand_forbidden' }] });
    s.retry('j', 'failed');
    expect(claimOne(s).generation).toBe(2);
  });

  it('keeps the key when the server kept nothing for it, or the outcome is unknown', () => {
    const s = open();
    failWith(s, 1, 'dead', { status: 503, code: 'unavailable' });
    failWith(s, 2, 'dead', { code: 'network' });
    failWith(s, 3, 'dead', { status: 429, code: 'rate_limited' });
    failWith(s, 4, 'dead', { status: 409, code: 'idempotency_key_in_use' });
    failWith(s, 5, 'failed', { unsent: true, message: 'the job map refused it' });
    failWith(s, 6, 'dead', { status: 408 });
    expect(s.retry('j')).toBe(6);
    const items = s.claimDue('j', 10, 10_000);
    expect(items.map((i) => [i.sourceId, i.generation])).toEqual([1, 2, 3, 4, 5, 6].map((i) => [String(i), 0]));
  });

  it('a failed item re-staged with changed content gets a new generation; unchanged content changes nothing', () => {
    const s = open();
    failWith(s, 1, 'failed', { status: 422, code: 'validation_failed' });
    expect(s.stage('j', 'f', [rec(1)])).toMatchObject({ unchanged: 1 });
    expect(s.getItem('j', '1')).toMatchObject({ state: 'failed', generation: 0 });
    expect(s.stage('j', 'f', [rec(1, 2)])).toMatchObject({ changed: 1 });
    expect(s.getItem('j', '1')).toMatchObject({ state: 'pending', generation: 1, error: null });
    const item = claimOne(s);
    expect(item).toMatchObject({ generation: 1, mode: 'create', payload: rec(1, 2).payload });
    // Fixed and created: a later change is an update, keyed by its hash; the generation stays.
    s.recordOutcomes({ outcomes: [{ id: item.id, kind: 'done', targetId: 'T1' }] });
    s.stage('j', 'f', [rec(1, 3)]);
    expect(claimOne(s)).toMatchObject({ generation: 1, mode: 'update', targetId: 'T1' });
  });

  it('a change that waited behind a body refused with a 4xx goes out under a new generation', () => {
    const s = open();
    s.stage('j', 'f', [rec(1), rec(2)]);
    const [a, b] = s.claimDue('j', 2, 1000);
    // Changes staged while both are in flight wait behind the sent bodies.
    expect(s.stage('j', 'f', [rec(1, 2), rec(2, 2)])).toMatchObject({ changed: 2 });
    s.recordOutcomes({
      outcomes: [
        { id: a!.id, kind: 'failed', status: 422, code: 'validation_failed' },
        { id: b!.id, kind: 'retry', status: 503, nextAttemptAt: 0, countsAsAttempt: true },
      ],
    });
    const next = s.claimDue('j', 2, 10_000);
    expect(next.map((i) => [i.sourceId, i.generation, i.payload])).toEqual([
      ['1', 1, rec(1, 2).payload],
      // a retry keeps its sent body (and key) until its outcome is known
      ['2', 0, rec(2).payload],
    ]);
  });

  it('a done item changed again is an update under the same generation', () => {
    const s = open();
    s.stage('j', 'f', [rec(1)]);
    s.recordOutcomes({ outcomes: [{ id: claimOne(s).id, kind: 'done', targetId: 'T1' }] });
    s.stage('j', 'f', [rec(1, 2)]);
    expect(claimOne(s)).toMatchObject({ generation: 0, mode: 'update' });
  });

  it('a change reverted in the export makes the item done again, whether the update was pending or refused', () => {
    const s = open();
    s.stage('j', 'f', [rec(1), rec(2)]);
    s.recordOutcomes({ outcomes: s.claimDue('j', 2, 1000).map((it) => ({ id: it.id, kind: 'done' as const, targetId: `T${it.sourceId}` })) });
    // 1: changed, then changed back before any run. 2: changed, the update refused, then changed back.
    expect(s.stage('j', 'f', [rec(1, 2), rec(2, 2)])).toMatchObject({ changed: 2 });
    const page = s.claimDue('j', 2, 2000);
    const other = page.find((it) => it.sourceId === '1')!;
    const update = page.find((it) => it.sourceId === '2');
    expect(update).toMatchObject({ mode: 'update', targetId: 'T2' });
    s.recordOutcomes({
      outcomes: [
        { id: other.id, kind: 'release' },
        { id: update!.id, kind: 'failed', status: 422, code: 'validation_failed', message: 'refused', unsent: true },
      ],
    });
    expect(s.counts(['j']).j).toMatchObject({ pending: 1, failed: 1, done: 0 });
    expect(s.stage('j', 'f', [rec(1), rec(2)])).toMatchObject({ changed: 2, unchanged: 0 });
    expect(s.counts(['j']).j).toMatchObject({ pending: 0, failed: 0, done: 2 });
    expect(s.getItem('j', '2')).toMatchObject({ state: 'done', targetId: 'T2', error: null, payload: rec(2).payload });
    expect(s.claimDue('j', 10, 3000)).toEqual([]);
    // Staging the same again is unchanged; a new change is an update again.
    expect(s.stage('j', 'f', [rec(1), rec(2)])).toMatchObject({ unchanged: 2 });
    s.stage('j', 'f', [rec(1, 3)]);
    expect(claimOne(s)).toMatchObject({ sourceId: '1', mode: 'update', targetId: 'T1' });
  });
});

describe('send log', () => {
  it('records sends durably, one entry per send, and prunes old ones', () => {
    let s = open();
    s.recordSend(1000);
    s.recordSend(1000);
    s.recordSend(1500);
    s.recordSend(2000);
    expect(s.recentSends(0)).toEqual([1000, 1000, 1500, 2000]);
    expect(s.recentSends(1500)).toEqual([1500, 2000]);
    // Inside an open staging transaction it joins it.
    s.beginStaging();
    s.recordSend(2500);
    s.commitStaging();
    s.close();
    s = open();
    expect(s.recentSends(0)).toEqual([1000, 1000, 1500, 2000, 2500]);
    expect(s.pruneSends(1600)).toBe(2);
    expect(s.recentSends(0)).toEqual([2000, 2500]);
  });
});

describe('migrations', () => {
  /** A store as version `v` of the schema left it, with one job (id 1, 'j'), open for the test to fill. */
  const storeAtVersion = (v: number) => {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    for (const m of MIGRATIONS.slice(0, v)) db.exec(m);
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.pragma(`user_version = ${v}`);
    db.exec(`INSERT INTO jobs (id, name) VALUES (1, 'j')`);
    return db;
  };
  it('moves a schema-1 store forward, keeping its items and bodies', () => {
    const db = storeAtVersion(1);
    const ins = db.prepare(`INSERT INTO items (job_id, source_id, state, payload, hash, next_payload, next_hash, first_sent_at, sends, err_status, staged_at, updated_at)
      VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)`);
    ins.run('1', 'pending', Buffer.from('{"id":1}'), 'h1', null, null, null, 0, null);
    ins.run('2', 'inflight', Buffer.from('{"id":2}'), 'h2', Buffer.from('{"id":2,"v":2}'), 'h2b', 500, 1, null);
    ins.run('3', 'failed', Buffer.from('{"id":3}'), 'h3', null, null, 500, 1, 422);
    db.close();

    const s = open();
    expect(s.counts(['j']).j).toEqual({ pending: 1, inflight: 1, done: 0, failed: 1, dead: 0, invalid: 0 });
    expect(s.getItem('j', '1')).toMatchObject({ payload: '{"id":1}', generation: 0 });
    expect(s.getItem('j', '2')).toMatchObject({ payload: '{"id":2}', hasPendingChange: true });
    expect(s.recoverInflight(['j'])).toBe(1);
    const [one, two] = s.claimDue('j', 2, 1);
    expect(one).toMatchObject({ sourceId: '1', payload: '{"id":1}' });
    expect(two).toMatchObject({ sourceId: '2', payload: '{"id":2}', sends: 2 });
    s.recordOutcomes({ outcomes: [{ id: two!.id, kind: 'done', targetId: 'T2' }] });
    expect(s.getItem('j', '2')).toMatchObject({ state: 'pending', payload: '{"id":2,"v":2}', hasPendingChange: false });
    expect(s.retry('j', 'failed')).toBe(1);
    expect(s.getItem('j', '3')).toMatchObject({ state: 'pending', generation: 1 });
    s.close();
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    raw.close();
  });
  it('turns the id map of a schema-4 store into a view over items, keeping every mapping', () => {
    const db = storeAtVersion(4);
    const ins = db.prepare(`INSERT INTO items (job_id, source_id, state, hash, target_id, staged_at, updated_at, done_at) VALUES (1, ?, ?, 'h', ?, 0, 0, ?)`);
    ins.run('1', 'done', 'T1', 100);
    // A map row whose item lost its target id (never written apart, but the migration must not drop it).
    ins.run('2', 'done', null, 200);
    const three = ins.run('3', 'pending', null, null).lastInsertRowid;
    db.prepare(`INSERT INTO bodies (id, payload) VALUES (?, '{"id":3}')`).run(three);
    const map = db.prepare(`INSERT INTO id_map (job_id, source_id, target_id, mapped_at) VALUES (1, ?, ?, ?)`);
    map.run('1', 'T1', 100);
    map.run('2', 'T2', 200);
    db.close();

    const s = open();
    expect(s.refState('j', '2')).toEqual({ state: 'done', targetId: 'T2' });
    const [claimed] = s.claimDue('j', 1, 1);
    expect(claimed).toMatchObject({ sourceId: '3', payload: '{"id":3}' });
    s.recordOutcomes({ outcomes: [{ id: claimed!.id, kind: 'done', targetId: 'T3' }] });
    s.close();
    const raw = new Database(file, { readonly: true });
    expect(raw.prepare(`SELECT type FROM sqlite_master WHERE name = 'id_map'`).pluck().get()).toBe('view');
    expect(raw.prepare(`SELECT source_id, target_id FROM id_map ORDER BY source_id`).all()).toEqual([
      { source_id: '1', target_id: 'T1' },
      { source_id: '2', target_id: 'T2' },
      { source_id: '3', target_id: 'T3' },
    ]);
    raw.close();
  });
  it('rebuilds the line keys of a schema-6 store with the whole path of their file', () => {
    const db = storeAtVersion(6);
    db.exec(`INSERT INTO files (id, path) VALUES (1, '/exports/2023/tickets.ndjson'), (2, '/exports/2023/tickets.json')`);
    const ins = db.prepare(`INSERT INTO items (job_id, source_id, state, hash, reason, file_id, line, elem, staged_at, updated_at) VALUES (1, ?, ?, 'h', ?, ?, ?, ?, 0, 0)`);
    ins.run('!tickets.ndjson:2', 'invalid', 'not valid JSON', 1, 2, null);
    ins.run('!tickets.json:7#3', 'invalid', 'id is missing', 2, 7, 3);
    ins.run('!input:4', 'invalid', 'not valid JSON', null, 4, null);
    ins.run('12', 'invalid', 'status is missing', 1, 5, null);
    db.close();

    const s = open();
    expect(s.getItem('j', '!/exports/2023/tickets.ndjson:2')).toMatchObject({ state: 'invalid', line: 2, reason: 'not valid JSON' });
    expect(s.getItem('j', '!/exports/2023/tickets.json:7#3')).toMatchObject({ state: 'invalid', line: 7, index: 3 });
    expect(s.getItem('j', '!tickets.ndjson:2')).toBeNull();
    // Without a file (records staged from no file), and keys that are ids, stay as they are.
    expect(s.getItem('j', '!input:4')).toMatchObject({ line: 4 });
    expect(s.getItem('j', '12')).toMatchObject({ line: 5 });
    s.close();
  });
});
