/**
 * Dropping the pages a bulk load wrote from the OS page cache, once they are
 * committed and the load will not read them again.
 *
 * Why: a load writes its whole export into the store (1,000,000 tickets are a
 * 1.4 GB file) and reads almost none of it back; kept, those pages only push
 * other data out of the cache. On VMs that hand idle memory back to the host
 * (this one does), every new page the store takes is fresh memory the host
 * must supply again. Pages dropped right after their commit are free memory
 * still warm, and the next commit's pages reuse them: committing cost the
 * writer ~2.4 us of CPU per ticket instead of ~3.7 (one profiled load of
 * 1,000,000 tickets each), and 13 loads alternated with the build before
 * were 1.10x faster (median; 0.85..1.22).
 *
 * When: only pages written a commit earlier or more, and only while the keys
 * come in ascending order. Then every B-tree grows at its right edge, whose
 * pages SQLite keeps in its own cache. In any other order the key index takes
 * inserts all over, and its pages, spread through the file, are read again:
 * dropped, each would be a disk read (a shuffled 1,000,000-ticket file staged
 * at 39,000 items/s with every written page dropped, 56,000 without).
 *
 * The dropping is a small native addon (src/native, built at install by
 * node-gyp, like better-sqlite3). Where it is not built (no compiler) or the
 * OS lacks posix_fadvise, loads run as before and keep their pages.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { packageRoot } from '../paths.js';
import type { StageRecord } from './types.js';

interface Addon {
  /** 0, or the errno of posix_fadvise(DONTNEED); length 0 means to the end of the file. */
  dropPageCache(fd: number, offset: number, length: number): number;
  /** Pages of the range in the page cache, or -errno. */
  residentPages(fd: number, offset: number, length: number): number;
}

let addon: Addon | null | undefined;

/** The addon, or null when it was not built here. */
export function pageCacheAddon(): Addon | null {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url)(path.join(packageRoot(), 'src/native/build/Release/page_cache.node')) as Addon;
  } catch {
    addon = null;
  }
  return addon;
}

/**
 * Decides, per transaction, whether the keys it staged came in ascending order: at most 1 in 100 lower than
 * the key before it. A sorted export crossing a power of ten ('9999' then '10000', compared as text) is one
 * step down, and the keys then climb again through the same part of the index.
 */
export class KeyOrder {
  #last: string | null = null;
  #inserted = 0;
  #descents = 0;

  see(key: string): void {
    if (this.#last !== null && key < this.#last) this.#descents++;
    this.#last = key;
    this.#inserted++;
  }

  /** Whether the keys seen since the last call were in ascending order (and there were any); starts over. */
  takeAscending(): boolean {
    const ascending = this.#inserted > 0 && this.#descents * 100 <= this.#inserted;
    this.#inserted = 0;
    this.#descents = 0;
    return ascending;
  }
}

/** Drops what a load's commits appended to the store file, a commit late, while its keys are ascending. */
export class LoadPageDropper {
  readonly #addon: Addon;
  readonly #fd: number;
  /** Dropped up to here. */
  #from: number;
  /** The file's size at the previous commit. */
  #previous: number;
  /** The keys staged since the last commit: told only while loading, so other staging pays nothing for it. */
  readonly #order = new KeyOrder();

  private constructor(a: Addon, fd: number) {
    this.#addon = a;
    this.#fd = fd;
    this.#from = this.#previous = fstatSync(fd).size;
  }

  /** For the store file `file`, or null without the addon (or when the file cannot be opened to advise on). */
  static open(file: string): LoadPageDropper | null {
    const a = pageCacheAddon();
    if (a === null) return null;
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return null;
    }
    return new LoadPageDropper(a, fd);
  }

  /** Records staged in the open transaction, in order. */
  staged(records: readonly StageRecord[]): void {
    for (const r of records) this.#order.see(r.sourceId);
  }

  /** After a commit: drops what the commits before it appended, when this one's keys were ascending. */
  committed(): void {
    const ascending = this.#order.takeAscending();
    // Advice only, after a commit that succeeded: nothing here may fail the load. A failed call leaves the
    // pages cached, as without the addon.
    try {
      const size = fstatSync(this.#fd).size;
      if (ascending && this.#previous > this.#from) {
        this.#addon.dropPageCache(this.#fd, this.#from, this.#previous - this.#from);
        this.#from = this.#previous;
      }
      this.#previous = size;
    } catch {
      // the size is unknown: this commit's pages stay cached
    }
  }

  close(): void {
    closeSync(this.#fd);
  }
}
