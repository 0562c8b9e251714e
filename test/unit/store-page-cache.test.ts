/**
 * A bulk load drops the pages it committed from the OS page cache while its
 * keys come in ascending order, and keeps them otherwise (page-cache.ts): on
 * the real SQLite file, with the page cache read back through mincore.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, type StageRecord, type Store } from '../../src/store/index.js';
import { KeyOrder, pageCacheAddon } from '../../src/store/page-cache.js';

let dir: string;
let file: string;
let store: Store | null = null;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nb-pagecache-'));
  file = path.join(dir, 'store.sqlite');
});
afterEach(() => {
  store?.close();
  store = null;
  rmSync(dir, { recursive: true, force: true });
});

function payload(id: number): string {
  return JSON.stringify({ id, subject: `ticket ${id}`, description: 'd'.repeat(1000) });
}

/** Stages `ids` in commits of 500, in bulk-load mode unless `bulk` is false; returns the open store. */
function load(ids: number[], bulk = true): Store {
  store = openStore(file, { mode: 'writer', command: 'test' });
  if (bulk) expect(store.beginLoad()).toBe(true);
  for (let i = 0; i < ids.length; i += 500) {
    const recs: StageRecord[] = ids.slice(i, i + 500).map((id) => ({ sourceId: String(id), payload: payload(id), hash: `h${id}`, line: id }));
    store.beginStaging();
    store.stage('tickets', 'tickets.ndjson', recs);
    store.commitStaging();
  }
  return store;
}

/** Share of the store file's pages in the OS page cache. */
function residentShare(): number {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const pages = pageCacheAddon()!.residentPages(fd, 0, size);
    expect(pages).toBeGreaterThanOrEqual(0);
    return pages / Math.ceil(size / 4096);
  } finally {
    closeSync(fd);
  }
}

function shuffled(n: number): number[] {
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  let seed = 7;
  for (let i = n - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  return ids;
}

describe('KeyOrder', () => {
  it('calls keys ascending with at most 1 in 100 lower than the one before, and starts over at each call', () => {
    const o = new KeyOrder();
    expect(o.takeAscending()).toBe(false); // no keys: nothing was inserted, nothing to drop
    for (let id = 9_950; id < 10_050; id++) o.see(String(id)); // '10000' < '9999' as text: one step down in 100
    expect(o.takeAscending()).toBe(true);
    for (let id = 9_990; id < 10_010; id++) o.see(String(id)); // the same step in 20
    expect(o.takeAscending()).toBe(false);
    for (const id of shuffled(1000)) o.see(String(id).padStart(6, '0'));
    expect(o.takeAscending()).toBe(false);
    for (let id = 1; id <= 1000; id++) o.see(String(id).padStart(6, '0'));
    expect(o.takeAscending()).toBe(true);
  });
});

/** tmpfs keeps files in the page cache itself: there is nothing to drop (or to see dropped) there. */
const TMPFS_MAGIC = 0x01021994;

// The addon is built at install by node-gyp, as better-sqlite3 is; on Linux it must be there.
describe.runIf(process.platform === 'linux' && statfsSync(os.tmpdir()).type !== TMPFS_MAGIC)('page cache after a bulk load', () => {
  it('the addon is built and loads', () => {
    expect(pageCacheAddon()).not.toBeNull();
  });

  it('drops what ascending keys committed, a commit late, and every record reads back whole', () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => i + 1);
    const s = load(ids);
    // All but the last two commits' pages (~1/20 of the file) are gone from the cache.
    expect(residentShare()).toBeLessThan(0.25);
    s.endLoad();
    expect(s.counts(['tickets']).tickets!.pending).toBe(20_000);
    for (const id of [1, 777, 10_000, 19_999, 20_000]) expect(s.getItem('tickets', String(id))?.payload).toBe(payload(id));
  });

  it('keeps the pages of keys in any other order: the key index is read all over again', () => {
    load(shuffled(20_000));
    expect(residentShare()).toBeGreaterThan(0.75);
  });

  it('keeps the pages of a load in WAL mode (another connection had the store open)', () => {
    load(
      Array.from({ length: 20_000 }, (_, i) => i + 1),
      false,
    );
    store!.close();
    store = null;
    expect(residentShare()).toBeGreaterThan(0.75);
  });
});
