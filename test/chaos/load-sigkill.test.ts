import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, startCli } from '../helpers/cli.js';
import { openStore } from '../../src/store/index.js';
import { sampleTickets, writeNdjson, TICKET_BASE } from '../../src/sources/sample-export.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nb-chaos-load-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function counts(db: string) {
  const s = openStore(db, { mode: 'reader' });
  try {
    return s.counts(['zendesk-tickets'])['zendesk-tickets']!;
  } finally {
    s.close();
  }
}

describe('SIGKILL during load', () => {
  it('the same load afterwards ends with exactly the right items', async () => {
    const N = 40_000;
    const file = path.join(dir, 'tickets.ndjson');
    await writeNdjson(file, sampleTickets({ tickets: N, users: 100, organizations: 5, descriptionBytes: 200 }));
    const db = path.join(dir, 'store.sqlite');
    const load = startCli(['load', 'zendesk-tickets', file, '--db', db, '--json']);
    // Kill once some batches are committed, before the end.
    let staged = 0;
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      try {
        staged = counts(db).pending;
      } catch {
        staged = 0;
      }
      if (staged > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    load.child.kill('SIGKILL');
    const killed = await load.done;
    expect(killed.signal).toBe('SIGKILL');
    // The load runs under a rollback journal (Store.beginLoad), with the store's permissions. A kill mid-commit
    // leaves it hot, and the reader that counts below rolls it back (store-bulk-load.test.ts makes sure of one).
    const journal = `${db}-journal`;
    if (existsSync(journal)) expect(statSync(journal).mode & 0o777).toBe(0o600);
    const afterKill = counts(db).pending;
    expect(afterKill).toBeGreaterThan(0);
    expect(afterKill).toBeLessThan(N);

    const again = await runCli(['load', 'zendesk-tickets', file, '--db', db, '--json']);
    expect(again.code, again.stderr).toBe(0);
    const r = JSON.parse(again.stdout).jobs['zendesk-tickets'];
    expect(r).toEqual({ new: N - afterKill, unchanged: afterKill, changed: 0, invalid: 0 });
    expect(counts(db)).toEqual({ pending: N, inflight: 0, done: 0, failed: 0, dead: 0, invalid: 0 });
    const raw = new Database(db, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    const s = openStore(db, { mode: 'reader' });
    expect(s.getItem('zendesk-tickets', String(TICKET_BASE + 1))?.line).toBe(1);
    expect(s.getItem('zendesk-tickets', String(TICKET_BASE + N))?.line).toBe(N);
    expect(s.getItem('zendesk-tickets', String(TICKET_BASE + N + 1))).toBeNull();
    s.close();
  });
});

describe('SIGTERM / SIGINT during load', () => {
  // Big enough to take a few seconds (~2.5 s alone on 2 cores), so a signal lands mid-way.
  const N = 60_000;
  let file: string;
  let lines: string[];
  let clean: unknown;
  beforeAll(async () => {
    file = path.join(dir, 'signal-tickets.ndjson');
    await writeNdjson(file, sampleTickets({ tickets: N, users: 100, organizations: 5, descriptionBytes: 600 }));
    lines = readFileSync(file, 'utf8').split('\n');
    // What a load that nobody interrupts leaves.
    const db = path.join(dir, 'signal-clean.sqlite');
    const r = await runCli(['load', 'zendesk-tickets', file, '--db', db, '--json']);
    expect(r.code, r.stderr).toBe(0);
    clean = JSON.parse((await runCli(['status', '--db', db, '--json'])).stdout).jobs;
  }, 120_000);

  /** Starts a load and returns it once a first batch of records is committed (well before its end). */
  async function startLoad(db: string) {
    const load = startCli(['load', 'zendesk-tickets', file, '--db', db, '--json']);
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      let staged = 0;
      try {
        staged = counts(db).pending;
      } catch {
        // not created yet
      }
      if (staged > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    return load;
  }

  /** The items staged are exactly the first `k` records of the file, each byte for byte: no half record, no gap. */
  function expectPrefix(db: string): number {
    const c = counts(db);
    expect(c).toMatchObject({ inflight: 0, done: 0, failed: 0, dead: 0, invalid: 0 });
    const s = openStore(db, { mode: 'reader' });
    try {
      let k = 0;
      const wrong: string[] = [];
      for (const it of s.iterateItems('zendesk-tickets', ['pending'])) {
        k++;
        if (it.line === null || it.payload !== lines[it.line - 1] || it.sourceId !== String(TICKET_BASE + it.line)) wrong.push(`${it.sourceId}@${it.line}`);
      }
      expect(wrong).toEqual([]);
      expect(k).toBe(c.pending);
      if (k > 0) expect(s.getItem('zendesk-tickets', String(TICKET_BASE + k))?.line).toBe(k);
      expect(s.getItem('zendesk-tickets', String(TICKET_BASE + k + 1))).toBeNull();
      return k;
    } finally {
      s.close();
    }
  }

  /** The writer lock row itself is gone (status hides a lock whose holder died; this one was released). */
  function lockRows(db: string): unknown[] {
    const raw = new Database(db, { readonly: true });
    try {
      return raw.prepare('SELECT pid FROM writer_lock').all();
    } finally {
      raw.close();
    }
  }

  async function expectRerunFinishes(db: string, staged: number) {
    const again = await runCli(['load', 'zendesk-tickets', file, '--db', db, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).jobs['zendesk-tickets']).toEqual({ new: N - staged, unchanged: staged, changed: 0, invalid: 0 });
    const status = JSON.parse((await runCli(['status', '--db', db, '--json'])).stdout);
    expect(status.unfinished_loads).toEqual({});
    expect((await runCli(['status', '--db', db])).stdout).not.toMatch(/stopped before the end|once that load finishes/);
    expect(status.jobs).toEqual(clean);
    expect(status.jobs['zendesk-tickets']).toEqual({ pending: N, inflight: 0, done: 0, failed: 0, dead: 0, invalid: 0 });
    expect(expectPrefix(db)).toBe(N);
  }

  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s: commits what was staged, releases the lock, says so, exits 130; the same load then finishes exactly',
    async (sig) => {
      const db = path.join(dir, `signal-${sig}.sqlite`);
      const load = await startLoad(db);
      load.child.kill(sig);
      const r = await load.done;
      expect(r.signal).toBeNull();
      expect(r.code, r.stderr).toBe(130);
      const line = new RegExp(
        `^${sig}: load stopped; ([\\d,]+) records of zendesk-tickets staged and committed \\(([\\d,]+) new, 0 unchanged, 0 changed, 0 invalid\\)\\. ` +
          'Run the same command again to finish the job: records staged already are unchanged and add nothing\\. ' +
          'Until a load of zendesk-tickets finishes, nexus-backfill run refuses it \\(a record that comes again later in these files may still hold its older copy\\)\\.\n$',
      );
      expect(r.stderr).toMatch(line);
      const [, total, fresh] = line.exec(r.stderr)!;
      const staged = expectPrefix(db);
      expect(staged).toBeGreaterThan(0);
      expect(staged).toBeLessThan(N);
      expect(Number(total!.replaceAll(',', ''))).toBe(staged);
      expect(Number(fresh!.replaceAll(',', ''))).toBe(staged);
      // --json: the report of what was staged, marked interrupted.
      expect(JSON.parse(r.stdout)).toMatchObject({ jobs: { 'zendesk-tickets': { new: staged, unchanged: 0, changed: 0, invalid: 0 } }, interrupted: true });
      const status = JSON.parse((await runCli(['status', '--db', db, '--json'])).stdout);
      expect(status.writer).toBeNull();
      // status says the load is unfinished, and which load finishes it (run refuses the job until then).
      expect(status.unfinished_loads).toEqual({ 'zendesk-tickets': { files: [file], started_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) } });
      const text = (await runCli(['status', '--db', db])).stdout;
      expect(text).toContain(`The last load of zendesk-tickets stopped before the end of its files, so nexus-backfill run refuses it until a load of it finishes.`);
      expect(text).toContain(`  nexus-backfill load zendesk-tickets ${file} --db ${db}   (started `);
      expect(text).toMatch(/ETA for what is pending: .*; once that load finishes, nexus-backfill run --db /);
      expect(lockRows(db)).toEqual([]);
      await expectRerunFinishes(db, staged);
    },
    120_000,
  );

  it('a second signal quits at once (130); the same load then finishes exactly', async () => {
    const db = path.join(dir, 'signal-twice.sqlite');
    const load = await startLoad(db);
    load.child.kill('SIGTERM');
    load.child.kill('SIGINT');
    const r = await load.done;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/^SIG(TERM|INT), a second signal: quitting now; records staged since the last commit are dropped\. Run the same command to finish the job\.\n$/);
    const staged = expectPrefix(db);
    expect(staged).toBeLessThan(N);
    await expectRerunFinishes(db, staged);
  }, 120_000);
});
