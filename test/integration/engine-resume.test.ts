/**
 * Resuming and settling: a dry run that changes nothing, an old send whose
 * key may have expired settled by lookup instead of re-sent, and a laptop
 * sleep (SIGSTOP past the token lifetime, then SIGCONT) that fails nothing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import { openStore } from '../../src/store/index.js';
import { runCli } from '../helpers/cli.js';
import { parseSummary, runAgainst, SAMPLE_FILES, stageSample, startAgainst, tempDir } from '../helpers/migration.js';

const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).length;

describe('resume', () => {
  const tmp = tempDir();
  const sims: Simulator[] = [];
  afterAll(async () => {
    await Promise.all(sims.map((s) => s.close()));
    tmp.cleanup();
  });
  const sim = async (opts: Parameters<typeof startSimulator>[0]) => {
    const s = await startSimulator(opts);
    sims.push(s);
    return s;
  };

  it('--dry-run maps every pending item, reports what would fail, sends and changes nothing', async () => {
    const s = await sim({ limits: [] });
    const db = path.join(tmp.dir, 'dry.sqlite');
    await stageSample(db);
    const r = await runAgainst(s, db, ['--dry-run']);
    expect(r.code).toBe(2);
    const report = parseSummary(r);
    expect(report.dry_run).toBe(true);
    expect(report.jobs['zendesk-organizations']).toEqual({ would_create: lines(SAMPLE_FILES['zendesk-organizations']), would_update: 0, would_fail: 0 });
    expect(report.jobs['zendesk-users'].would_create).toBe(lines(SAMPLE_FILES['zendesk-users']));
    expect(report.jobs['zendesk-tickets'].would_fail).toBe(2);
    expect(report.failures.map((f: any) => f.key).sort()).toEqual(['zendesk-tickets:1001', 'zendesk-tickets:1002']);
    expect(report.failures[0].reason).toMatch(/absent from the staged export/);
    expect(s.stats().requests).toBe(0);
    const status = await runCli(['status', '--db', db, '--json']);
    const counts = JSON.parse(status.stdout).jobs;
    expect(counts['zendesk-tickets'].pending).toBe(lines(SAMPLE_FILES['zendesk-tickets']));
    expect(counts['zendesk-tickets'].done).toBe(0);
    // No run yet: the ETA is at the documented quota, whose slowest steady pace is 600/60s = 10 requests/s.
    const total = Object.values<any>(counts).reduce((a, c) => a + c.pending, 0);
    expect(JSON.parse(status.stdout).eta).toMatchObject({ seconds: Math.ceil(total / 10), basis: 'limits', windows: ['600/60s', '150/10s'] });

    // --brand-map is applied as a run applies it: the 40 tickets of a brand it lacks would fail; a file it
    // cannot read stops the dry run as it would stop the run.
    const map = path.join(tmp.dir, 'brand-map.json');
    writeFileSync(map, JSON.stringify({ 1: 'example' }));
    const mapped = await runAgainst(s, db, ['--dry-run', '--brand-map', map]);
    expect(mapped.code).toBe(2);
    const withMap = parseSummary(mapped);
    expect(withMap.jobs['zendesk-tickets'].would_fail).toBe(2 + 40);
    expect(withMap.failures.filter((f: any) => /^brand 2 is missing from --brand-map/.test(f.reason))).toHaveLength(40);
    const unreadable = await runAgainst(s, db, ['--dry-run', '--brand-map', path.join(tmp.dir, 'no-such-map.json')]);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toMatch(/--brand-map \S*no-such-map\.json could not be read as JSON/);
    expect(s.stats().requests).toBe(0);
  });

  it('settles a send older than the key lifetime with GET ?external_id= instead of sending it again', async () => {
    // Uniqueness off: only the lookup stands between this resume and a duplicate.
    const s = await sim({ limits: [], uniqueExternalId: false });
    const db = path.join(tmp.dir, 'settle.sqlite');
    await stageSample(db, { 'zendesk-organizations': SAMPLE_FILES['zendesk-organizations'] });
    // A run 25 hours ago claimed the first organization, its request landed, and the process died.
    const store = openStore(db, { mode: 'writer', command: 'test' });
    const [item] = store.claimDue('zendesk-organizations', 1, Date.now() - 25 * 3_600_000);
    store.close();
    const token = await tokenFor(s);
    const landed = await request(`${s.url}/v1/organizations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ external_id: item!.key, name: 'Landed before the crash' }),
      dispatcher: new Agent({ connect: { ca: readFileSync(s.caFile) } }),
    });
    const created = (await landed.body.json()) as { id: string };
    expect(landed.statusCode).toBe(201);

    const r = await runAgainst(s, db, ['--limit', '2000/1s', '--no-progress']);
    expect(r.code).toBe(0);
    expect(s.stats().externalIds.organizations[item!.key]).toBe(1);
    expect(s.stats().records.organizations).toBe(lines(SAMPLE_FILES['zendesk-organizations']));
    const reader = openStore(db, { mode: 'reader' });
    expect(reader.refState('zendesk-organizations', item!.sourceId)).toEqual({ state: 'done', targetId: created.id });
    reader.close();
  });

  it('an old send that cannot be looked up fails with what to check, instead of risking a duplicate', async () => {
    const s = await sim({ limits: [], uniqueExternalId: false });
    const db = path.join(tmp.dir, 'settle-forbidden.sqlite');
    await stageSample(db, { 'zendesk-organizations': SAMPLE_FILES['zendesk-organizations'] });
    const store = openStore(db, { mode: 'writer', command: 'test' });
    const [item] = store.claimDue('zendesk-organizations', 1, Date.now() - 25 * 3_600_000);
    store.close();
    // Enough to create organizations, not to read them back.
    const client = s.createClient({ scopes: ['users:write'] });
    const r = await runAgainst(s, db, ['--limit', '2000/1s', '--no-progress'], {
      env: { NEXUSCORE_CLIENT_ID: client.clientId, NEXUSCORE_CLIENT_SECRET: client.clientSecret },
    });
    expect(r.code).toBe(2);
    expect(parseSummary(r).jobs['zendesk-organizations']).toMatchObject({ failed: 1, done: lines(SAMPLE_FILES['zendesk-organizations']) - 1 });
    expect(s.stats().externalIds.organizations[item!.key]).toBeUndefined();
    const ex = await runCli(['export-failed', 'zendesk-organizations', '--db', db]);
    const row = JSON.parse(ex.stdout.trim());
    expect(row).toMatchObject({ key: item!.key, status: 403, code: 'insufficient_scope' });
    expect(row.message).toMatch(/could create a duplicate\. Check NexusCore for external_id/);
  });

  it('a laptop sleep longer than the token lifetime (SIGSTOP, SIGCONT) fails no item', async () => {
    const s = await sim({ limits: [], tokenTtlS: 2, faults: { latencyMs: 5 } });
    const db = path.join(tmp.dir, 'sleep.sqlite');
    await stageSample(db, { 'zendesk-organizations': SAMPLE_FILES['zendesk-organizations'], 'zendesk-users': SAMPLE_FILES['zendesk-users'] });
    const run = startAgainst(s, db, ['--limit', '40/1s', '--concurrency', '4', '--no-progress']);
    while (s.stats().records.users < 5) await new Promise((r) => setTimeout(r, 20));
    run.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 4_500));
    run.child.kill('SIGCONT');
    const r = await run.done;
    expect(r.code).toBe(0);
    const summary = parseSummary(r);
    expect(summary.outcome).toBe('completed');
    expect(s.stats().records.users).toBe(lines(SAMPLE_FILES['zendesk-users']));
    expect(s.stats().duplicateExternalIds.users).toBe(0);
    // The token issued before the sleep had expired: a new one was obtained after it.
    expect(s.stats().tokensIssued).toBeGreaterThanOrEqual(2);
  });
});

async function tokenFor(s: Simulator): Promise<string> {
  const res = await request(`${s.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: s.clientId, client_secret: s.clientSecret }).toString(),
    dispatcher: new Agent({ connect: { ca: readFileSync(s.caFile) } }),
  });
  return ((await res.body.json()) as { access_token: string }).access_token;
}
