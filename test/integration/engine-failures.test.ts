/**
 * Items that cannot succeed, each for its own reason, and what the runner
 * tells the user: a 422 from the API, a brand the credential may not use,
 * retries outlasting --max-attempts, a missing scope. Plus a user's own job
 * file (TypeScript, loaded with --jobs-dir, no build step).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import { runCli, startCli } from '../helpers/cli.js';
import { FAST, parseSummary, runAgainst, simEnv, tempDir, writeLegacyNotesJob, writeNdjson } from '../helpers/migration.js';

const tmp = tempDir();
const jobsDir = path.join(tmp.dir, 'jobs');

beforeAll(() => writeLegacyNotesJob(jobsDir, "{ name: n.title, domain_names: n.domains, tags: ['legacy'] }"));

afterAll(() => tmp.cleanup());

describe('items that fail', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ limits: [] });
  });
  afterAll(async () => sim?.close());

  it('a 422 fails the item with the field problem saved; the others are created; export-failed shows it', async () => {
    const db = path.join(tmp.dir, 'notes.sqlite');
    const file = writeNdjson(path.join(tmp.dir, 'notes.ndjson'), [
      { id: 1, title: 'Fine', domains: ['fine.example'] },
      { id: 2, title: 'Bad domains', domains: 'not-a-list.example' },
      { id: 3, title: 'Ünïcødé ✓', domains: [] },
    ]);
    const load = await runCli(['load', 'legacy-notes', file, '--db', db, '--jobs-dir', jobsDir]);
    expect(load.code).toBe(0);
    const r = await runAgainst(sim, db, [...FAST, '--jobs-dir', jobsDir]);
    expect(r.code).toBe(2);
    const s = parseSummary(r);
    expect(s.jobs['legacy-notes']).toMatchObject({ done: 2, failed: 1, pending: 0 });
    const ex = await runCli(['export-failed', 'legacy-notes', '--db', db, '--jobs-dir', jobsDir]);
    const [row] = ex.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(row).toMatchObject({ key: 'legacy-notes:2', state: 'failed', status: 422, code: 'validation_failed', line: 2 });
    expect(row.message).toContain('domain_names');
    expect(sim.records('organizations').map((t: any) => t.name)).toContain('Ünïcødé ✓');
  });

  it('retries 503s up to --max-attempts, then the item is dead; retry --only dead brings it back', async () => {
    const db = path.join(tmp.dir, 'dead.sqlite');
    const file = writeNdjson(path.join(tmp.dir, 'dead.ndjson'), [{ id: 10, title: 'Unlucky', domains: [] }]);
    expect((await runCli(['load', 'legacy-notes', file, '--db', db, '--jobs-dir', jobsDir])).code).toBe(0);
    sim.setFaults({ error503: 1 });
    const r = await runAgainst(sim, db, [...FAST, '--jobs-dir', jobsDir, '--max-attempts', '3']);
    sim.setFaults({ error503: 0 });
    expect(r.code).toBe(2);
    const s = parseSummary(r);
    expect(s.jobs['legacy-notes']).toMatchObject({ dead: 1, done: 0 });
    expect(s.responses['5xx']).toBe(3);
    expect(s.retries).toBe(2);
    const ex = await runCli(['export-failed', 'legacy-notes', '--db', db]);
    const [row] = ex.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(row).toMatchObject({ key: 'legacy-notes:10', state: 'dead', status: 503, attempts: 3 });
    expect(row.message).toMatch(/--max-attempts is 3/);

    expect((await runCli(['retry', 'legacy-notes', '--db', db, '--only', 'dead'])).code).toBe(0);
    const again = await runAgainst(sim, db, [...FAST, '--jobs-dir', jobsDir]);
    expect(again.code).toBe(0);
    expect(parseSummary(again).outcome).toBe('completed');
  });

  it('brand_forbidden fails only the ticket of the other brand', async () => {
    const db = path.join(tmp.dir, 'brands.sqlite');
    const apiKey = sim.createApiKey({ scopes: ['tickets:read', 'tickets:write', 'users:read', 'users:write', 'brands:read'], brands: ['brd_acme'] });
    const dir = path.join(tmp.dir, 'brand-export');
    mkdirSync(dir);
    const users = writeNdjson(path.join(dir, 'users.ndjson'), [{ id: 501, name: 'Req', email: 'req@example.com', role: 'end-user' }]);
    const base = { requester_id: 501, status: 'open', priority: 'normal', description: 'd', comments: [] };
    const tickets = writeNdjson(path.join(dir, 'tickets.ndjson'), [
      { ...base, id: 9001, subject: 'Acme ticket', brand_id: 1 },
      { ...base, id: 9002, subject: 'Globex ticket', brand_id: 2 },
    ]);
    const brandMap = path.join(dir, 'brands.json');
    writeFileSync(brandMap, JSON.stringify({ 1: 'acme', 2: 'brd_globex' }));
    expect((await runCli(['load', 'zendesk-users', users, '--db', db])).code).toBe(0);
    expect((await runCli(['load', 'zendesk-tickets', tickets, '--db', db])).code).toBe(0);
    const env = { ...simEnv(sim), NEXUSCORE_CLIENT_ID: '', NEXUSCORE_CLIENT_SECRET: '', NEXUSCORE_API_KEY: apiKey };
    const r = await runCli(['run', '--db', db, '--json', ...FAST, '--brand-map', brandMap], { env });
    expect(r.code).toBe(2);
    const s = parseSummary(r);
    expect(s.jobs['zendesk-tickets']).toMatchObject({ done: 1, failed: 1 });
    const ex = await runCli(['export-failed', 'zendesk-tickets', '--db', db]);
    const [row] = ex.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(row).toMatchObject({ key: 'zendesk-tickets:9002', status: 403, code: 'brand_forbidden' });
    const acme: any = sim.records('tickets').find((t: any) => t.external_id === 'zendesk-tickets:9001');
    expect(acme.brand_id).toBe('brd_acme');
    expect(r.stdout + r.stderr).not.toContain(apiKey);
  });

  it('an API key that may not read brands ends the run auth_failed (exit 3) naming brands:read, before sending', async () => {
    const db = path.join(tmp.dir, 'brands-scope.sqlite');
    const apiKey = sim.createApiKey({ scopes: ['tickets:read', 'tickets:write', 'users:read', 'users:write'] });
    const dir = path.join(tmp.dir, 'brand-scope-export');
    mkdirSync(dir);
    const tickets = writeNdjson(path.join(dir, 'tickets.ndjson'), [{ id: 9201, subject: 'S', requester_id: null, status: 'open', brand_id: 1, comments: [] }]);
    const brandMap = path.join(dir, 'brands.json');
    writeFileSync(brandMap, JSON.stringify({ 1: 'acme' }));
    expect((await runCli(['load', 'zendesk-tickets', tickets, '--db', db])).code).toBe(0);
    const env = { ...simEnv(sim), NEXUSCORE_CLIENT_ID: '', NEXUSCORE_CLIENT_SECRET: '', NEXUSCORE_API_KEY: apiKey };
    const r = await runCli(['run', '--db', db, '--json', ...FAST, '--brand-map', brandMap], { env });
    expect(r.code, r.stderr).toBe(3);
    const s = parseSummary(r);
    expect(s.outcome).toBe('auth_failed');
    expect(s.jobs['zendesk-tickets']).toMatchObject({ pending: 1, done: 0 });
    expect(r.stdout + r.stderr).toMatch(/403 insufficient_scope.*brands:read/);
    expect(sim.records('tickets').some((t: any) => t.external_id === 'zendesk-tickets:9201')).toBe(false);
    expect(r.stdout + r.stderr).not.toContain(apiKey);
  });

  it('a --base-url where the collection answers 404 stops the run (exit 1) instead of failing every item', async () => {
    const db = path.join(tmp.dir, 'wrong-base.sqlite');
    const file = writeNdjson(
      path.join(tmp.dir, 'wrong-base.ndjson'),
      Array.from({ length: 40 }, (_, i) => ({ id: 700 + i, title: `Org ${i}`, domains: [] })),
    );
    expect((await runCli(['load', 'legacy-notes', file, '--db', db, '--jobs-dir', jobsDir])).code).toBe(0);
    const apiKey = sim.createApiKey({ scopes: ['users:read', 'users:write'] });
    // One path segment too many: every request goes to /v1/v1/..., which NexusCore does not have.
    const env = { ...simEnv(sim), NEXUSCORE_CLIENT_ID: '', NEXUSCORE_CLIENT_SECRET: '', NEXUSCORE_API_KEY: apiKey, NEXUSCORE_BASE_URL: `${sim.url}/v1` };
    const r = await runCli(['run', '--db', db, ...FAST, '--jobs-dir', jobsDir], { env });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/POST \/v1\/organizations answered 404: there is no such endpoint at the --base-url.*Check --base-url/);
    const status = await runCli(['status', '--db', db, '--json', '--jobs-dir', jobsDir]);
    expect(JSON.parse(status.stdout).jobs['legacy-notes']).toMatchObject({ pending: 40, failed: 0, done: 0 });
    // The right base URL then migrates every item.
    const again = await runAgainst(sim, db, [...FAST, '--jobs-dir', jobsDir]);
    expect(again.code, again.stderr).toBe(0);
    expect(parseSummary(again).jobs['legacy-notes']).toMatchObject({ done: 40 });
  });

  it('reading the brands is retried through 5xx; when it keeps failing the run stops before sending, and says so', async () => {
    const db = path.join(tmp.dir, 'brands-5xx.sqlite');
    const dir = path.join(tmp.dir, 'brands-5xx');
    mkdirSync(dir);
    const users = writeNdjson(path.join(dir, 'users.ndjson'), [{ id: 601, name: 'Req', email: 'req601@example.com', role: 'end-user' }]);
    const tickets = writeNdjson(path.join(dir, 'tickets.ndjson'), [{ id: 9601, subject: 'Branded', brand_id: 1, requester_id: 601, status: 'open', description: 'd', comments: [] }]);
    const brandMap = path.join(dir, 'brands.json');
    writeFileSync(brandMap, JSON.stringify({ 1: 'acme' }));
    expect((await runCli(['load', 'zendesk-users', users, '--db', db])).code).toBe(0);
    expect((await runCli(['load', 'zendesk-tickets', tickets, '--db', db])).code).toBe(0);

    // Every /v1 request fails: two reads of the brands, then a stop with exit 1 and nothing sent.
    sim.setFaults({ error503: 1 });
    const before = sim.stats();
    const failed = await runAgainst(sim, db, [...FAST, '--brand-map', brandMap, '--max-attempts', '2']);
    const after = sim.stats();
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/GET \/v1\/brands answered 503 on attempt 2 of 2.*Nothing was sent/);
    expect(after.apiRequests - before.apiRequests).toBe(2);
    const status = JSON.parse((await runCli(['status', '--db', db, '--json'])).stdout);
    expect(status.runs[0].outcome).toBe('error');

    // The brands fail once, then answer: the run goes on and creates the ticket.
    const run = startCli(['run', '--db', db, '--json', ...FAST, '--brand-map', brandMap], { env: simEnv(sim) });
    const seen = sim.stats().apiRequests;
    while (sim.stats().apiRequests === seen) await new Promise((r) => setTimeout(r, 5));
    sim.setFaults({ error503: 0 });
    const ok = await run.done;
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/GET \/v1\/brands answered 503; reading the brands again/);
    expect(sim.records('tickets').find((t: any) => t.external_id === 'zendesk-tickets:9601')?.brand_id).toBe('brd_acme');
  });

  it('a missing scope stops before the first item with exit 3, naming the scope', async () => {
    const db = path.join(tmp.dir, 'scope.sqlite');
    const file = writeNdjson(path.join(tmp.dir, 'scope.ndjson'), [{ id: 20, title: 'x', domains: [] }]);
    expect((await runCli(['load', 'legacy-notes', file, '--db', db, '--jobs-dir', jobsDir])).code).toBe(0);
    const client = sim.createClient({ scopes: ['tickets:read', 'tickets:write'] });
    const before = sim.stats().records.organizations;
    const r = await runCli(['run', '--db', db, '--json', ...FAST, '--jobs-dir', jobsDir], {
      env: { ...simEnv(sim), NEXUSCORE_CLIENT_ID: client.clientId, NEXUSCORE_CLIENT_SECRET: client.clientSecret },
    });
    expect(r.code).toBe(3);
    expect(r.stderr + r.stdout).toContain('users:write');
    expect(r.stderr + r.stdout).toMatch(/admin/);
    expect(r.stdout + r.stderr).not.toContain(client.clientSecret);
    expect(sim.stats().records.organizations).toBe(before);
  });
});
