/**
 * What a typo must not do: a mistyped --db must not make a new store and
 * report it finished, a mistyped job name must not "succeed" at nothing, a
 * stage-only job is not sent; plus export-failed --json as one document and
 * the bundled sample migrating against the `sim` command as it is.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimClient, startSimulator, type Simulator } from '../../src/sim/index.js';
import { ROOT, runCli, startCli } from '../helpers/cli.js';
import { FAST, runAgainst, SAMPLE_FILES, simEnv, stageSample, tempDir } from '../helpers/migration.js';

const tmp = tempDir();
const BRANDS = path.join(ROOT, 'data/sample/brands.json');
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ limits: [] });
});
afterAll(async () => {
  await sim?.close();
  tmp.cleanup();
});

describe('cli guards', () => {
  it('run and retry refuse a store that does not exist, and create none', async () => {
    const db = path.join(tmp.dir, 'typo', 'nope.sqlite');
    const run = await runAgainst(sim, db, FAST);
    const retry = await runCli(['retry', 'zendesk-tickets', '--db', db]);
    for (const r of [run, retry]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`There is no checkpoint store at ${db} yet`);
    }
    expect(existsSync(db)).toBe(false);
  });

  it('a job named after --limit is a job to run, not a second window', async () => {
    const db = path.join(tmp.dir, 'limit.sqlite');
    await stageSample(db, { 'zendesk-organizations': SAMPLE_FILES['zendesk-organizations'], 'zendesk-users': SAMPLE_FILES['zendesk-users'] });
    const r = await runAgainst(sim, db, ['--limit', '600/60s', 'zendesk-organizations', '--limit', '150/10s', '--dry-run', '--no-progress']);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(JSON.parse(r.stdout).jobs)).toEqual(['zendesk-organizations']);
  });

  it('a job name the store holds no items of is a usage error, naming the jobs it holds', async () => {
    const db = path.join(tmp.dir, 'names.sqlite');
    await stageSample(db, { 'zendesk-organizations': SAMPLE_FILES['zendesk-organizations'] });
    for (const args of [['retry', 'zendesk-ticket'], ['export-failed', 'zendesk-ticket'], ['status', 'zendesk-ticket']]) {
      const r = await runCli([...args, '--db', db]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain('The store holds no items of zendesk-ticket. Jobs with items: zendesk-organizations.');
    }
  });

  it('NexusCore out of reach is no credential problem: exit 1 when nothing was sent, the items wait', async () => {
    const db = path.join(tmp.dir, 'unreachable.sqlite');
    await stageSample(db, { 'zendesk-organizations': SAMPLE_FILES['zendesk-organizations'] });
    // Port 1 on loopback: the connection is refused, every token try fails fast.
    const env = { ...simEnv(sim), NEXUSCORE_BASE_URL: 'https://127.0.0.1:1' };
    const r = await runCli(['run', '--db', db, '--no-progress'], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Run stopped before sending anything.');
    expect(r.stdout).toMatch(/token endpoint issued no token after \d+ tries \(last: refused \(ECONNREFUSED\)\)/);
    expect(r.stdout).not.toMatch(/authentication or authorization/);
    const status = JSON.parse((await runCli(['status', '--db', db, '--json'])).stdout);
    expect(status.jobs['zendesk-organizations'].pending).toBe(20);
  });

  it('a stage-only job is not run: it is read by the jobs that need it', async () => {
    const db = path.join(tmp.dir, 'brands.sqlite');
    expect((await runCli(['load', 'zendesk-brands', BRANDS, '--db', db])).code).toBe(0);
    const r = await runAgainst(sim, db, [...FAST, 'zendesk-brands']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('zendesk-brands is staged for lookup by other jobs and never sent');
    expect(sim.stats().apiRequests).toBe(0);
  });

  it('export-failed --json is one JSON document; invalid lines are sent back to the export, not to retry', async () => {
    const db = path.join(tmp.dir, 'invalid.sqlite');
    // Tickets staged as users: every record is invalid.
    // Given relative to the working directory (the checkout), recorded absolute.
    const load = await runCli(['load', 'zendesk-users', 'data/sample/tickets.ndjson', '--db', db], { cwd: ROOT });
    expect(load.code).toBe(0);
    expect(load.stderr).toMatch(/warning: every record of \S*tickets\.ndjson \(400\) is invalid for zendesk-users\. Is it the export of that job\?/);
    const r = await runCli(['export-failed', 'zendesk-users', '--db', db, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { job: string; items: { key: string; state: string; line: number }[] };
    expect(doc.job).toBe('zendesk-users');
    expect(doc.items).toHaveLength(400);
    expect(doc.items[0]).toMatchObject({ key: 'zendesk-users:1001', state: 'invalid', line: 1, file: path.join(ROOT, 'data/sample/tickets.ndjson') });
    expect(r.stderr).toContain(`correct the 400 invalid line(s) in the export, then load it again: nexus-backfill load zendesk-users <file> --db ${db}`);
    expect(r.stderr).not.toContain('retry');

    // --output: a path that cannot be written is a usage error up front; an existing file is narrowed to 0600.
    const missing = path.join(tmp.dir, 'no-such-dir', 'failed.ndjson');
    const bad = await runCli(['export-failed', 'zendesk-users', '--db', db, '-o', missing]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`nexus-backfill: Could not write the failed items to ${missing}: its directory does not exist. Pass --output with a path in a writable directory.\n`);
    const out = path.join(tmp.dir, 'failed.ndjson');
    writeFileSync(out, 'old\n', { mode: 0o644 });
    const ok = await runCli(['export-failed', 'zendesk-users', '--db', db, '-o', out]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(400);
  });
});

describe('job files that cannot be loaded', () => {
  it('say where the syntax error is, and what to do about an unresolvable nexus-backfill import', async () => {
    // Outside the checkout (the temp dir), where 'nexus-backfill' does not resolve.
    const dir = path.join(tmp.dir, 'user-jobs');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'a-syntax.ts'), "export default { name: 'x', parse( };\n");
    writeFileSync(path.join(dir, 'b-import.ts'), "import { defineJob } from 'nexus-backfill';\nexport default defineJob({} as any);\n");
    const r = await runCli(['jobs', '--jobs-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/a-syntax\.ts: cannot be loaded: Transform failed with 1 error: \S*a-syntax\.ts:1:\d+: ERROR: /);
    expect(r.stderr).toMatch(/b-import\.ts: cannot be loaded: it imports 'nexus-backfill'.*inside a project where nexus-backfill is installed/);
  });
});

describe('job files in CommonJS', () => {
  it('a .cjs job file is loaded like a .js one (it used to be skipped without a word)', async () => {
    const dir = path.join(tmp.dir, 'cjs-jobs');
    mkdirSync(dir);
    writeFileSync(
      path.join(dir, 'notes.cjs'),
      "module.exports = { name: 'legacy-notes', scopes: ['tickets:write'], resource: 'tickets', parse: (r) => ({ ok: true, record: r }), key: (r) => String(r.id), map: (r) => ({ method: 'POST', path: '/v1/tickets', body: { external_id: String(r.id) } }) };\n",
    );
    const r = await runCli(['jobs', '--jobs-dir', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).jobs).toContainEqual(expect.objectContaining({ name: 'legacy-notes', scopes: ['tickets:write'] }));
  });
});

describe('the sim command and the bundled sample', () => {
  it("resolves the sample's brands by subdomain: the sample migrates against it as it is", async () => {
    const { child, done } = startCli(['sim', '--port', '0', '--no-limit']);
    try {
      const info = await new Promise<{ url: string; ca_file: string; client_id: string; client_secret: string; api_key: string }>((resolve, reject) => {
        let buf = '';
        child.stdout!.on('data', (d: Buffer | string) => {
          buf += String(d);
          if (buf.includes('\n')) resolve(JSON.parse(buf.slice(0, buf.indexOf('\n'))));
        });
        child.on('close', () => reject(new Error(`sim exited: ${buf}`)));
      });
      const c = createSimClient({ url: info.url, caFile: info.ca_file });
      const brands = await c.send('/v1/brands', { auth: info.api_key });
      expect((brands.body.brands as { subdomain: string }[]).map((b) => b.subdomain)).toEqual(expect.arrayContaining(['example', 'shop-example']));

      const db = path.join(tmp.dir, 'sample.sqlite');
      await stageSample(db, SAMPLE_FILES);
      expect((await runCli(['load', 'zendesk-brands', BRANDS, '--db', db])).code).toBe(0);
      const env = { NEXUSCORE_BASE_URL: info.url, NEXUSCORE_CA_FILE: info.ca_file, NEXUSCORE_CLIENT_ID: info.client_id, NEXUSCORE_CLIENT_SECRET: info.client_secret };
      const r = await runCli(['run', '--db', db, '--json', ...FAST], { env });
      const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
      expect(summary.jobs['zendesk-organizations']).toMatchObject({ done: 20, failed: 0 });
      expect(summary.jobs['zendesk-users']).toMatchObject({ done: 150, failed: 0 });
      // The sample holds two tickets whose requester is missing from the export, on purpose; no brand failures.
      expect(summary.jobs['zendesk-tickets'].done).toBeGreaterThanOrEqual(398);
      const failed = await runCli(['export-failed', 'zendesk-tickets', '--db', db]);
      expect(failed.stdout).not.toMatch(/brand/i);
    } finally {
      child.kill('SIGTERM');
      await done;
    }
  });
});
