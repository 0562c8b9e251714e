import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore } from '../../src/store/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('claiming', () => {
  it('walks only pending items through the partial due index, whatever the number of done items', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nb-claim-'));
    dirs.push(dir);
    const file = path.join(dir, 's.sqlite');
    const s = openStore(file, { mode: 'writer' });
    const n = 20_000;
    const recs = Array.from({ length: n }, (_, i) => ({ sourceId: String(i), payload: `{"id":${i}}`, hash: String(i), line: i + 1 }));
    s.stage('t', 'f', recs);
    // 18,000 done, in pages as the engine would
    for (let done = 0; done < 18_000; done += 2000) {
      const page = s.claimDue('t', 2000, 10);
      s.recordOutcomes({ outcomes: page.map((i) => ({ id: i.id, kind: 'done' as const, targetId: `T${i.sourceId}` })) });
    }
    const page = s.claimDue('t', 500, 10);
    expect(page).toHaveLength(500);
    expect(page.every((i) => Number(i.sourceId) >= 18_000)).toBe(true);
    expect(s.counts(['t']).t).toMatchObject({ done: 18_000, inflight: 500, pending: 1500 });
    s.close();

    const raw = new Database(file, { readonly: true });
    const plan = raw
      .prepare(`EXPLAIN QUERY PLAN SELECT id FROM items WHERE job_id = 1 AND state = 'pending' AND next_attempt_at <= 99 ORDER BY next_attempt_at, id LIMIT 500`)
      .all() as { detail: string }[];
    raw.close();
    const details = plan.map((p) => p.detail).join(' | ');
    expect(details).toMatch(/USING (COVERING )?INDEX items_due/);
    expect(details).not.toContain('TEMP B-TREE'); // no sort: the index order is the claim order
  });

  it('hands out items not yet due only once their time comes, oldest due first', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nb-claim-'));
    dirs.push(dir);
    const s = openStore(path.join(dir, 's.sqlite'), { mode: 'writer' });
    s.stage('t', 'f', [1, 2, 3].map((i) => ({ sourceId: String(i), payload: '{}', hash: String(i), line: i })));
    const all = s.claimDue('t', 3, 0);
    s.recordOutcomes({
      outcomes: [
        { id: all[0]!.id, kind: 'retry', nextAttemptAt: 300, countsAsAttempt: true },
        { id: all[1]!.id, kind: 'retry', nextAttemptAt: 200, countsAsAttempt: true },
        { id: all[2]!.id, kind: 'retry', nextAttemptAt: 100, countsAsAttempt: true },
      ],
    });
    expect(s.claimDue('t', 10, 99)).toEqual([]);
    expect(s.claimDue('t', 10, 250).map((i) => i.sourceId)).toEqual(['3', '2']);
    s.close();
  });
});
