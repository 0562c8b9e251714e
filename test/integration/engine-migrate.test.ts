/**
 * The main job end to end: the real CLI (a child process) migrates the
 * bundled sample export into the simulator over HTTPS, and the simulator's
 * records are the truth the assertions read.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import { runCli } from '../helpers/cli.js';
import { FAST, parseSummary, runAgainst, SAMPLE_FILES, stageSample, startAgainst, tempDir } from '../helpers/migration.js';

function ndjson(file: string): any[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

const orgs = ndjson(SAMPLE_FILES['zendesk-organizations']);
const users = ndjson(SAMPLE_FILES['zendesk-users']);
const tickets = ndjson(SAMPLE_FILES['zendesk-tickets']);
const userIds = new Set(users.map((u) => u.id));
const orphanTickets = tickets.filter((t) => !userIds.has(t.requester_id));

describe('run: the sample migration', () => {
  let sim: Simulator;
  const tmp = tempDir();
  const db = path.join(tmp.dir, 'store.sqlite');
  let summary: any;
  let exitCode: number | null;

  beforeAll(async () => {
    sim = await startSimulator({ limits: [] });
    await stageSample(db);
    const r = await runAgainst(sim, db, FAST);
    exitCode = r.code;
    summary = parseSummary(r);
  });
  afterAll(async () => {
    await sim?.close();
    tmp.cleanup();
  });

  it('creates every record once and fails only tickets whose requester is absent', () => {
    expect(orphanTickets.length).toBeGreaterThan(0);
    expect(exitCode).toBe(2);
    expect(summary.outcome).toBe('partial');
    expect(summary.jobs['zendesk-organizations']).toMatchObject({ pending: 0, done: orgs.length, failed: 0, dead: 0 });
    expect(summary.jobs['zendesk-users']).toMatchObject({ pending: 0, done: users.length, failed: 0, dead: 0 });
    expect(summary.jobs['zendesk-tickets']).toMatchObject({ pending: 0, done: tickets.length - orphanTickets.length, failed: orphanTickets.length, dead: 0 });
    const stats = sim.stats();
    expect(stats.records).toMatchObject({ organizations: orgs.length, users: users.length, tickets: tickets.length - orphanTickets.length });
    for (const type of ['organizations', 'users', 'tickets'] as const) {
      expect(Object.values(stats.externalIds[type]).every((n) => n === 1)).toBe(true);
    }
  });

  it('points every reference at the right NexusCore record, keeps comment order, authors and unicode', () => {
    const byExt = (type: 'organizations' | 'users' | 'tickets') => new Map(sim.records(type).map((r: any) => [r.external_id, r]));
    const simOrgs = byExt('organizations');
    const simUsers = byExt('users');
    const simTickets = byExt('tickets');
    const userId = (zid: number | null | undefined) => (zid == null ? null : (simUsers.get(`zendesk-users:${zid}`) as any)?.id);
    for (const u of users) {
      const rec: any = simUsers.get(`zendesk-users:${u.id}`);
      expect(rec.name).toBe(u.name);
      expect(rec.organization_id ?? null).toBe(u.organization_id == null ? null : (simOrgs.get(`zendesk-organizations:${u.organization_id}`) as any).id);
    }
    let comments = 0;
    for (const t of tickets) {
      const rec: any = simTickets.get(`zendesk-tickets:${t.id}`);
      if (orphanTickets.includes(t)) {
        expect(rec).toBeUndefined();
        continue;
      }
      expect(rec.subject).toBe(t.subject ?? t.raw_subject);
      expect(rec.requester_id).toBe(userId(t.requester_id));
      expect(rec.assignee_id ?? null).toBe(userId(t.assignee_id));
      expect(rec.status).toBe(t.status);
      const src = t.comments ?? [];
      expect(rec.comments.length).toBe(src.length);
      src.forEach((c: any, i: number) => {
        expect(rec.comments[i].author_id).toBe(userId(c.author_id));
        expect(rec.comments[i].body).toBe(c.body ?? c.plain_body ?? c.html_body);
      });
      comments += src.length;
    }
    expect(comments).toBeGreaterThan(tickets.length);
    expect(tickets.some((t) => /[^\x00-\x7f]/.test(t.subject ?? ''))).toBe(true);
  });

  it('explains each failure with the parent and what to do, through export-failed', async () => {
    const r = await runCli(['export-failed', 'zendesk-tickets', '--db', db]);
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => x.key).sort()).toEqual(orphanTickets.map((t) => `zendesk-tickets:${t.id}`).sort());
    for (const row of rows) {
      expect(row.state).toBe('failed');
      expect(row.file).toContain('tickets.ndjson');
      expect(row.line).toBeGreaterThan(0);
      expect(row.message).toMatch(/requester_id(, [\w.[\]]+)* points? at zendesk-users:\d+, which is absent/);
      expect(row.message).toMatch(/nexus-backfill load zendesk-users/);
    }
  });

  it('keeps no secret or token in the store', async () => {
    const { existsSync } = await import('node:fs');
    for (const file of [db, `${db}-wal`]) {
      if (!existsSync(file)) continue;
      const bytes = readFileSync(file).toString('latin1');
      expect(bytes).not.toContain(sim.clientSecret);
      expect(bytes).not.toMatch(/Bearer [A-Za-z0-9._-]{8,}/);
    }
    const report = await runCli(['report', '--db', db, '--json']);
    expect(report.code).toBe(0);
    expect(report.stdout).not.toContain(sim.clientSecret);
  });

  it('a second run sends nothing and creates nothing', async () => {
    const before = sim.stats();
    const r = await runAgainst(sim, db, FAST);
    const s = parseSummary(r);
    expect(r.code).toBe(2);
    expect(s.requests).toBe(0);
    expect(sim.stats().records).toEqual(before.records);
  });

  it('retry picks a failed ticket up once its parent is staged', async () => {
    const orphan = orphanTickets[0]!;
    const missing = { id: orphan.requester_id, name: 'Late Arrival', email: `late-${orphan.requester_id}@example.com`, role: 'end-user', organization_id: null };
    const file = path.join(tmp.dir, 'late-users.ndjson');
    (await import('node:fs')).writeFileSync(file, `${JSON.stringify(missing)}\n`);
    expect((await runCli(['load', 'zendesk-users', file, '--db', db])).code).toBe(0);
    const retry = await runCli(['retry', 'zendesk-tickets', '--db', db, '--only', 'failed']);
    expect(retry.code).toBe(0);
    expect(retry.stdout).toContain(`${orphanTickets.length} failed item(s)`);
    const r = await runAgainst(sim, db, FAST);
    const s = parseSummary(r);
    expect(s.jobs['zendesk-tickets'].failed).toBe(orphanTickets.filter((t) => t.requester_id !== orphan.requester_id).length);
    const rec: any = sim.records('tickets').find((x: any) => x.external_id === `zendesk-tickets:${orphan.id}`);
    const user: any = sim.records('users').find((x: any) => x.external_id === `zendesk-users:${orphan.requester_id}`);
    expect(rec.requester_id).toBe(user.id);
  });
});

describe('run: stopping and refusing', () => {
  let sim: Simulator;
  const tmp = tempDir();
  afterAll(async () => {
    await sim?.close();
    tmp.cleanup();
  });

  it('SIGINT exits 130 after a checkpoint, a second writer is refused, and the resume finishes with no duplicates', async () => {
    sim = await startSimulator({ limits: [], faults: { latencyMs: 10 } });
    const db = path.join(tmp.dir, 'sigint.sqlite');
    await stageSample(db);
    const slow = ['--limit', '40/1s', '--concurrency', '4', '--no-progress'];
    const first = startAgainst(sim, db, slow);
    // Wait until it is sending, so the interrupt lands mid-run.
    await waitFor(() => sim.stats().records.organizations > 0);
    const second = await runAgainst(sim, db, slow);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/pid \d+/);
    expect(second.stderr).toContain(String(first.child.pid));
    first.child.kill('SIGINT');
    const r = await first.done;
    expect(r.code).toBe(130);
    const s = parseSummary(r);
    expect(s.outcome).toBe('interrupted');
    const after = sim.stats().records;
    expect(after.organizations + after.users + after.tickets).toBeLessThan(orgs.length + users.length + tickets.length);

    const resumed = await runAgainst(sim, db, FAST);
    expect(resumed.code).toBe(2);
    const stats = sim.stats();
    expect(stats.records).toMatchObject({ organizations: orgs.length, users: users.length, tickets: tickets.length - orphanTickets.length });
    expect(stats.duplicateExternalIds).toEqual({ organizations: 0, users: 0, tickets: 0 });
  });
});

describe('run: tokens', () => {
  let sim: Simulator;
  const tmp = tempDir();
  afterAll(async () => {
    await sim?.close();
    tmp.cleanup();
  });

  it('a 2 s token lifetime and a revocation mid-run fail no item', async () => {
    sim = await startSimulator({ limits: [], tokenTtlS: 2, faults: { latencyMs: 5 } });
    const db = path.join(tmp.dir, 'tokens.sqlite');
    await stageSample(db);
    const run = startAgainst(sim, db, ['--limit', '120/1s', '--concurrency', '8', '--no-progress']);
    await waitFor(() => sim.stats().records.users > 10);
    sim.revokeAllTokens();
    const r = await run.done;
    const s = parseSummary(r);
    expect(r.code).toBe(2);
    expect(s.jobs['zendesk-tickets'].failed).toBe(orphanTickets.length);
    for (const job of Object.values<any>(s.jobs)) expect(job.dead).toBe(0);
    expect(s.jobs['zendesk-users'].failed + s.jobs['zendesk-organizations'].failed).toBe(0);
    // Several lifetimes passed: tokens were refreshed ahead of expiry and after the revocation.
    expect(sim.stats().tokensIssued).toBeGreaterThanOrEqual(3);
    expect(s.token_refreshes).toBeGreaterThanOrEqual(2);
    expect(r.stdout + r.stderr).not.toContain(sim.clientSecret);
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
