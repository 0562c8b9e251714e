/**
 * Bulk-load mode (Store.beginLoad): a rollback journal instead of the WAL
 * while `load` stages, on the real SQLite file.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, type StageRecord, type Store } from '../../src/store/index.js';

let dir: string;
let file: string;
const opened: Store[] = [];

function open(mode: 'writer' | 'reader' = 'writer', at = file): Store {
  const s = openStore(at, { mode, command: 'test' });
  opened.push(s);
  return s;
}

function close(s: Store): void {
  opened.splice(opened.indexOf(s), 1);
  s.close();
}

function recs(from: number, n: number): StageRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const payload = JSON.stringify({ id: from + i, body: 'x'.repeat(900) });
    return { sourceId: String(from + i), payload, hash: `h${from + i}`, line: from + i };
  });
}

/** The journal mode the file says it is in, read by a connection of its own. */
function journalMode(at = file): string {
  const db = new Database(at, { readonly: true });
  try {
    return db.pragma('journal_mode', { simple: true }) as string;
  } finally {
    db.close();
  }
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nb-bulk-'));
  file = path.join(dir, 'store.sqlite');
});
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('bulk-load mode', () => {
  it('stages under a rollback journal (mode 0600), then the store is a WAL store again', () => {
    const s = open();
    s.stage('j', 'f', recs(1, 10));
    expect(journalMode()).toBe('wal');
    expect(s.beginLoad()).toBe(true);
    expect(existsSync(`${file}-wal`)).toBe(false);
    s.beginStaging();
    s.stage('j', 'f', recs(11, 500));
    // The journal exists while the transaction is open, with the store's own permissions.
    expect(statSync(`${file}-journal`).mode & 0o777).toBe(0o600);
    s.commitStaging();
    // Emptied at the commit, and gone with the mode.
    expect(statSync(`${file}-journal`).size).toBe(0);
    s.endLoad();
    expect(existsSync(`${file}-journal`)).toBe(false);
    expect(journalMode()).toBe('wal');
    expect(s.counts(['j']).j!.pending).toBe(510);
    expect(s.getItem('j', '510')?.payload).toBe(recs(510, 1)[0]!.payload);
  });

  it('close() during a load leaves a WAL store', () => {
    const s = open();
    expect(s.beginLoad()).toBe(true);
    s.stage('j', 'f', recs(1, 20));
    close(s);
    expect(journalMode()).toBe('wal');
    const r = open('reader');
    expect(r.counts(['j']).j!.pending).toBe(20);
  });

  it('with another connection open, the load stays in WAL mode and stages all the same', () => {
    const w = open();
    w.stage('j', 'f', recs(1, 5));
    const r = open('reader');
    expect(w.beginLoad()).toBe(false);
    expect(journalMode()).toBe('wal');
    w.beginStaging();
    w.stage('j', 'f', recs(6, 100));
    w.commitStaging();
    w.endLoad();
    expect(r.counts(['j']).j!.pending).toBe(105);
  });

  it('a reader opened during the load reads the last commit', () => {
    const w = open();
    expect(w.beginLoad()).toBe(true);
    w.beginStaging();
    w.stage('j', 'f', recs(1, 300));
    w.commitStaging();
    w.beginStaging();
    w.stage('j', 'f', recs(301, 300));
    const r = open('reader');
    expect(r.counts(['j']).j!.pending).toBe(300);
    close(r);
    w.commitStaging();
    w.endLoad();
  });

  it('the journal of a load killed mid-transaction is rolled back by the next reader or writer', () => {
    const w = open();
    expect(w.beginLoad()).toBe(true);
    w.beginStaging();
    w.stage('j', 'f', recs(1, 400));
    w.commitStaging();
    w.beginStaging();
    // Enough to spill the page cache into the database file mid-transaction: the rollback must undo those pages.
    w.stage('j', 'f', recs(401, 12_000));
    // The files as a kill -9 leaves them: database and hot journal, no live writer.
    const crashed = (name: string) => {
      const at = path.join(dir, name);
      copyFileSync(file, at);
      copyFileSync(`${file}-journal`, `${at}-journal`);
      return at;
    };
    const forReader = crashed('reader.sqlite');
    const forWriter = crashed('writer.sqlite');
    w.rollbackStaging();
    w.endLoad();
    expect(statSync(forReader).size).toBeGreaterThan(statSync(file).size);

    const r = open('reader', forReader);
    expect(r.counts(['j']).j).toMatchObject({ pending: 400, invalid: 0 });
    expect(r.getItem('j', '400')?.payload).toBe(recs(400, 1)[0]!.payload);
    expect(r.getItem('j', '401')).toBeNull();
    expect(existsSync(`${forReader}-journal`)).toBe(false);

    // A read-write connection rolls it back on its first read, as a writer's open does.
    const raw = new Database(forWriter);
    expect(raw.prepare('SELECT count(*) AS n FROM items').get()).toEqual({ n: 400 });
    expect(existsSync(`${forWriter}-journal`)).toBe(false);
    // The copy carries this (live) process's writer lock; the killed load's would be taken over.
    raw.exec('DELETE FROM writer_lock');
    raw.close();
    const again = open('writer', forWriter);
    expect(again.counts(['j']).j!.pending).toBe(400);
    expect(journalMode(forWriter)).toBe('wal');
    again.stage('j', 'f', recs(401, 10));
    expect(again.counts(['j']).j!.pending).toBe(410);
  });
});
