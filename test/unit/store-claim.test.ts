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

  it('done maps the item in the id map (a view over items since migration 5); a change staged meanwhile still becomes an update', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nb-claim-'));
    dirs.push(dir);
    const file = path.join(dir, 's.sqlite');
    const s = openStore(file, { mode: 'writer' });
    s.stage('t', 'f', [1, 2, 3].map((i) => ({ sourceId: String(i), payload: `{"id":${i}}`, hash: String(i), line: i })));
    const [a, b, c] = s.claimDue('t', 3, 0);
    // A newer export changed item 3 while it was on the wire.
    expect(s.stage('t', 'f', [{ sourceId: '3', payload: '{"id":3,"v":2}', hash: '3b', line: 3 }]).changed).toBe(1);
    s.recordOutcomes({
      outcomes: [
        { id: a!.id, kind: 'done', targetId: 'T1' },
        { id: b!.id, kind: 'done', targetId: 'T2' },
        { id: c!.id, kind: 'done', targetId: 'T3' },
        // No longer inflight: ignored, the id map keeps T1.
        { id: a!.id, kind: 'done', targetId: 'T9' },
      ],
    });
    expect(s.counts(['t']).t).toMatchObject({ done: 2, pending: 1 });
    const [upd] = s.claimDue('t', 10, 1);
    expect(upd).toMatchObject({ sourceId: '3', mode: 'update', targetId: 'T3', payload: '{"id":3,"v":2}' });
    s.close();

    const raw = new Database(file, { readonly: true });
    const rows = raw.prepare(`SELECT j.name AS job, m.source_id, m.target_id FROM id_map AS m JOIN jobs AS j ON j.id = m.job_id ORDER BY m.source_id`).all();
    raw.close();
    expect(rows).toEqual([
      { job: 't', source_id: '1', target_id: 'T1' },
      { job: 't', source_id: '2', target_id: 'T2' },
      { job: 't', source_id: '3', target_id: 'T3' },
    ]);
  });
});
