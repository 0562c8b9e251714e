import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { runCli, startCli, ROOT } from '../helpers/cli.js';
import { openStore } from '../../src/store/index.js';
import { sampleTickets, writeNdjson } from '../../src/sources/sample-export.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nb-load-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sample = (f: string) => path.join(ROOT, 'data/sample', f);

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = probe();
      if (v !== undefined) return v;
    } catch {
      // the store may not exist yet
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('nexus-backfill load / status / jobs', () => {
  it('stages the bundled sample, with parser threads, and reports per job (--json)', async () => {
    const db = path.join(dir, 'sample.sqlite');
    for (const [job, file] of [['zendesk-organizations', 'organizations.ndjson'], ['zendesk-users', 'users.ndjson'], ['zendesk-tickets', 'tickets.ndjson'], ['zendesk-brands', 'brands.json']]) {
      const r = await runCli(['load', job!, sample(file!), '--db', db, '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).jobs[job!].invalid).toBe(0);
    }
    const again = await runCli(['load', 'zendesk-tickets', sample('tickets.ndjson'), '--db', db, '--json']);
    expect(JSON.parse(again.stdout).jobs).toEqual({ 'zendesk-tickets': { new: 0, unchanged: 400, changed: 0, invalid: 0 } });
    const status = await runCli(['status', '--db', db, '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).jobs).toEqual({
      'zendesk-brands': { pending: 2, inflight: 0, done: 0, failed: 0, dead: 0, invalid: 0 },
      'zendesk-organizations': { pending: 20, inflight: 0, done: 0, failed: 0, dead: 0, invalid: 0 },
      'zendesk-tickets': { pending: 400, inflight: 0, done: 0, failed: 0, dead: 0, invalid: 0 },
      'zendesk-users': { pending: 150, inflight: 0, done: 0, failed: 0, dead: 0, invalid: 0 },
    });
    // The brands are never sent: not in the ETA (570 items at the default 10/s), marked as such.
    expect(JSON.parse(status.stdout)).toMatchObject({ stage_only: ['zendesk-brands'], eta: { seconds: 57 } });
    expect((await runCli(['status', '--db', db])).stdout).toMatch(/zendesk-brands \*[\s\S]*\* staged for lookup by other jobs, never sent/);
    const human = await runCli(['status', 'zendesk-tickets', '--db', db]);
    expect(human.stdout).toMatch(/zendesk-tickets\s+400\s+0\s+0/);
  });

  it('the bad-input corpus through the built CLI (worker threads, gzip): exact file:line per invalid item', async () => {
    const db = path.join(dir, 'bad.sqlite');
    const lines = ['{"id": 1, "status": "open"}', '{"id": 2, "status": "open"', '7', '{"id": "x", "status": "open"}', '{"id": 3, "status": "weird"}', '', '{"id": 4, "status": "closed"}'];
    const file = path.join(dir, 'bad.ndjson.gz');
    writeFileSync(file, gzipSync(`\uFEFF${lines.join('\r\n')}\r\n`));
    const r = await runCli(['load', 'zendesk-tickets', file, '--db', db]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('zendesk-tickets: 2 new, 0 unchanged, 0 changed, 4 invalid');
    const store = openStore(db, { mode: 'reader' });
    const invalid = [...store.iterateItems('zendesk-tickets', ['invalid'])].map((i) => `${path.basename(i.file!)}:${i.line} ${i.sourceId}`);
    store.close();
    expect(invalid).toEqual([`bad.ndjson.gz:2 !${file}:2`, `bad.ndjson.gz:3 !${file}:3`, `bad.ndjson.gz:4 !${file}:4`, 'bad.ndjson.gz:5 3']);
  });

  it('a load of many batches (parser threads reuse batch buffers) stages every body byte for byte', async () => {
    const db = path.join(dir, 'many.sqlite');
    // ~16 MB: far more 256 KB batches than are ever in flight, of varying line lengths and multi-byte text,
    // so batch buffers go round several times and lines straddle every kind of boundary.
    const lines: string[] = [];
    for (let i = 1; i <= 8_000; i++) {
      lines.push(JSON.stringify({ id: 900_000 + i, name: `Org ${i} — ünïcödé ${'✓'.repeat(i % 7)}`, details: `${'x'.repeat(1_000 + ((i * 37) % 1_500))}${i}`, tags: [`t${i % 13}`] }));
    }
    const file = path.join(dir, 'many.ndjson');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = await runCli(['load', 'zendesk-organizations', file, '--db', db, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).jobs['zendesk-organizations']).toEqual({ new: 8_000, unchanged: 0, changed: 0, invalid: 0 });
    const store = openStore(db, { mode: 'reader' });
    try {
      const byId = new Map<string, string | null>();
      for (const it of store.iterateItems('zendesk-organizations', ['pending'])) byId.set(it.sourceId, it.payload);
      expect(byId.size).toBe(8_000);
      const wrong = lines.filter((l, k) => byId.get(String(900_001 + k)) !== l);
      expect(wrong).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('a damaged .gz keeps the files and records before it; run refuses the job until a load of it finishes', async () => {
    const db = path.join(dir, 'damaged.sqlite');
    const org = (id: number, name: string) => JSON.stringify({ id, name });
    const before = path.join(dir, 'orgs-before.ndjson');
    writeFileSync(before, `${org(9001, 'Kept A')}\n${org(9002, 'Kept B')}\n`);
    // A change of 9001 later in the export: its newer copy is in the damaged file, after the damage.
    const lines = Array.from({ length: 3000 }, (_, i) => org(9100 + i, `Org ${i}`));
    lines.push(org(9001, 'Kept A, renamed'));
    const full = gzipSync(`${lines.join('\n')}\n`);
    const gz = path.join(dir, 'orgs-later.ndjson.gz');
    writeFileSync(gz, full.subarray(0, full.length - 200));

    const r = await runCli(['load', 'zendesk-organizations', before, gz, '--db', db]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/damaged or truncated \.gz.*records of this load .* are staged and kept; nexus-backfill run refuses zendesk-organizations until a load of it finishes/s);
    const s = openStore(db, { mode: 'reader' });
    try {
      expect(s.counts(['zendesk-organizations'])['zendesk-organizations']!.pending).toBeGreaterThanOrEqual(2);
      expect(JSON.parse(s.getItem('zendesk-organizations', '9001')!.payload!).name).toBe('Kept A');
      expect(Object.keys(s.unfinishedLoads())).toEqual(['zendesk-organizations']);
    } finally {
      s.close();
    }

    // Nothing is sent while the older copy may be the one staged: refused before any connection is made.
    const env = { NEXUSCORE_BASE_URL: 'https://127.0.0.1:9', NEXUSCORE_CLIENT_ID: 'c', NEXUSCORE_CLIENT_SECRET: 's' };
    const run = await runCli(['run', '--db', db, '--no-progress'], { env });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/last load of zendesk-organizations did not finish.*Nothing was sent/s);
    expect(run.stderr).toContain(`nexus-backfill load zendesk-organizations ${before} ${gz} --db ${db}`);

    // The file re-downloaded whole: the same load finishes, the newer copy is staged, and run is no longer refused.
    writeFileSync(gz, full);
    expect((await runCli(['load', 'zendesk-organizations', before, gz, '--db', db])).code).toBe(0);
    const t = openStore(db, { mode: 'reader' });
    try {
      expect(JSON.parse(t.getItem('zendesk-organizations', '9001')!.payload!).name).toBe('Kept A, renamed');
      expect(t.unfinishedLoads()).toEqual({});
    } finally {
      t.close();
    }
    const again = await runCli(['run', '--db', db, '--no-progress'], { env });
    expect(again.stderr).not.toMatch(/did not finish/);
  });

  it('an invalid line without a usable id goes once the line is corrected and the file loaded again; one still bad stays', async () => {
    const db = path.join(dir, 'corrected.sqlite');
    const file = path.join(dir, 'corrected.ndjson');
    const load = async () => {
      const r = await runCli(['load', 'zendesk-tickets', file, '--db', db, '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { files: { cleared: number }[] };
    };
    const counts = () => {
      const s = openStore(db, { mode: 'reader' });
      try {
        return s.counts(['zendesk-tickets'])['zendesk-tickets']!;
      } finally {
        s.close();
      }
    };
    writeFileSync(file, '{"id":201,"status":"open"}\n{"status":"open"}\n{"id":"203","status":"open"}\n');
    expect((await load()).files[0]!.cleared).toBe(0);
    expect(counts()).toMatchObject({ pending: 1, invalid: 2 });

    // Line 3 corrected, line 2 still without an id: only line 3's invalid item goes.
    writeFileSync(file, '{"id":201,"status":"open"}\n{"status":"open"}\n{"id":203,"status":"open"}\n');
    expect((await load()).files[0]!.cleared).toBe(1);
    expect(counts()).toMatchObject({ pending: 2, invalid: 1 });
    expect((await load()).files[0]!.cleared).toBe(0);
    expect(counts()).toMatchObject({ pending: 2, invalid: 1 });

    writeFileSync(file, '{"id":201,"status":"open"}\n{"id":202,"status":"open"}\n{"id":203,"status":"open"}\n');
    const r = await runCli(['load', 'zendesk-tickets', file, '--db', db]);
    expect(r.stdout).toContain('1 invalid line(s) of an earlier load of it, since corrected or removed, dropped');
    expect(counts()).toMatchObject({ pending: 3, invalid: 0 });
  });

  it('lists jobs, including a user .ts job loaded through tsx, and names a broken job file', async () => {
    const jobs = path.join(dir, 'jobs');
    const ok = path.join(jobs, 'ok');
    for (const d of [jobs, ok]) rmSync(d, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(ok, { recursive: true }));
    writeFileSync(
      path.join(ok, 'notes-backfill.ts'),
      `interface R { id: number }\nexport default {\n  name: 'notes-backfill', scopes: ['tickets:write'], dependsOn: ['zendesk-tickets'], resource: 'tickets',\n  parse: (raw: unknown) => ({ ok: true as const, record: raw as R }), key: (r: R) => String(r.id),\n  map: (r: R) => ({ method: 'PATCH' as const, path: '/v1/tickets/' + r.id, body: {} }),\n};\n`,
    );
    const r = await runCli(['jobs', '--json', '--jobs-dir', ok]);
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout).jobs as { name: string; scopes: string[]; depends_on: string[]; source: string }[];
    expect(list.map((j) => j.name)).toEqual(['zendesk-brands', 'zendesk-organizations', 'zendesk-tickets', 'zendesk-users', 'notes-backfill']);
    expect(list.find((j) => j.name === 'notes-backfill')).toMatchObject({ scopes: ['tickets:write'], depends_on: ['zendesk-tickets'] });
    const human = await runCli(['jobs']);
    expect(human.stdout).toMatch(/zendesk-tickets\s+scopes: tickets:write\s+depends on: zendesk-users, zendesk-organizations/);

    writeFileSync(path.join(ok, 'broken.ts'), "export default { name: 'broken' };\n");
    const bad = await runCli(['jobs', '--jobs-dir', ok]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/broken\.ts: the default export is not a valid job: .*parse must be a function, got nothing/);
  });

  it('refuses a store of a newer schema and a foreign file with exit 1', async () => {
    const db = path.join(dir, 'newer.sqlite');
    expect((await runCli(['load', 'zendesk-organizations', sample('organizations.ndjson'), '--db', db])).code).toBe(0);
    const raw = new Database(db);
    raw.pragma('user_version = 999');
    raw.close();
    const r = await runCli(['load', 'zendesk-organizations', sample('organizations.ndjson'), '--db', db]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/written by a newer nexus-backfill \(schema 999.*Upgrade nexus-backfill/);
    const s = await runCli(['status', '--db', db]);
    expect(s.code).toBe(1);
    const foreign = await runCli(['status', '--db', sample('tickets.ndjson')]);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/is not a nexus-backfill checkpoint store/);
  });

  it('one writer at a time: a second load is refused naming the holder, and takes over once it is gone', async () => {
    const db = path.join(dir, 'lock.sqlite');
    const big = path.join(dir, 'big.ndjson');
    await writeNdjson(big, sampleTickets({ tickets: 40_000, users: 100, organizations: 5, descriptionBytes: 1500 }));
    const first = startCli(['load', 'zendesk-tickets', big, '--db', db]);
    const pid = first.child.pid!;
    await waitFor(() => {
      const s = openStore(db, { mode: 'reader' });
      try {
        return s.lockHolder()?.pid === pid ? true : undefined;
      } finally {
        s.close();
      }
    }, 'the first load to take the lock');
    const second = await runCli(['load', 'zendesk-organizations', sample('organizations.ndjson'), '--db', db]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`in use by another nexus-backfill load \\(pid ${pid} on ${os.hostname()}, since \\d{4}-`));
    first.child.kill('SIGKILL');
    await first.done;
    const third = await runCli(['load', 'zendesk-organizations', sample('organizations.ndjson'), '--db', db, '--json']);
    expect(third.code, third.stderr).toBe(0);
    expect(JSON.parse(third.stdout).jobs['zendesk-organizations'].new).toBe(20);
  });

  it('--workers must be a whole number from 1 to 2: anything else is a usage error before anything is staged', async () => {
    for (const bad of [['--workers', '0'], ['--workers', '5'], ['--workers', 'abc'], ['--workers', '1.5'], ['--workers', '-1'], ['--workers'], ['--workers', '1', '--workers', '2']]) {
      const db = path.join(dir, 'workers-bad.sqlite');
      const r = await runCli(['load', 'zendesk-tickets', sample('tickets.ndjson'), '--db', db, ...bad]);
      expect(r.code, `${bad.join(' ')}: ${r.stderr}`).toBe(1);
      expect(r.stderr).toMatch(/^nexus-backfill: Expected --workers to be a whole number from 1 to 2 \(parser threads\), got /);
      expect(r.stdout).toBe('');
      expect(existsSync(db), bad.join(' ')).toBe(false);
    }
    for (const n of ['1', '2']) {
      const db = path.join(dir, `workers-${n}.sqlite`);
      const r = await runCli(['load', 'zendesk-tickets', sample('tickets.ndjson'), '--db', db, '--workers', n, '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).jobs['zendesk-tickets']).toEqual({ new: 400, unchanged: 0, changed: 0, invalid: 0 });
    }
    const help = await runCli(['load', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout.replace(/\s+/g, ' ')).toMatch(/--workers Parser threads, a whole number from 1 to 2 \[number\] \[default: [12] here \(one per core but one for the writer, at most 2\)\]/);
  });
});
