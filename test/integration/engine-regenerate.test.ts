/**
 * Items that failed with a response the server keeps under its
 * Idempotency-Key (a 4xx) and are sent again, fixed or retried: they go out
 * under a new key generation, so the server neither replays the old failure
 * nor refuses the new body as idempotency_key_reused.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import { openStore } from '../../src/store/index.js';
import { runCli } from '../helpers/cli.js';
import { FAST, parseSummary, runAgainst, simEnv, tempDir, writeLegacyNotesJob, writeNdjson } from '../helpers/migration.js';

const tmp = tempDir();
const jobsDir = path.join(tmp.dir, 'jobs');

function item(db: string, job: string, sourceId: string) {
  const s = openStore(db, { mode: 'reader' });
  try {
    return s.getItem(job, sourceId);
  } finally {
    s.close();
  }
}

beforeAll(() => writeLegacyNotesJob(jobsDir));

afterAll(() => tmp.cleanup());

describe('a new key for an item sent again after a 4xx', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ limits: [] });
  });
  afterAll(async () => sim?.close());

  it('a record fixed in the export and loaded again is created, not refused as idempotency_key_reused', async () => {
    const db = path.join(tmp.dir, 'fixed.sqlite');
    const file = path.join(tmp.dir, 'notes.ndjson');
    writeNdjson(file, [{ id: 1, title: 'Broken', domains: 'not-a-list.example' }]);
    expect((await runCli(['load', 'legacy-notes', file, '--db', db, '--jobs-dir', jobsDir])).code).toBe(0);
    const first = await runAgainst(sim, db, [...FAST, '--jobs-dir', jobsDir]);
    expect(first.code).toBe(2);
    expect(item(db, 'legacy-notes', '1')).toMatchObject({ state: 'failed', error: { status: 422, code: 'validation_failed' }, generation: 0 });

    // The user fixes line 1 and loads the file again: changed content, same key.
    writeNdjson(file, [{ id: 1, title: 'Fixed', domains: ['fixed.example'] }]);
    const load = await runCli(['load', 'legacy-notes', file, '--db', db, '--jobs-dir', jobsDir, '--json']);
    expect(JSON.parse(load.stdout).jobs['legacy-notes']).toMatchObject({ changed: 1 });
    expect(item(db, 'legacy-notes', '1')).toMatchObject({ state: 'pending', generation: 1 });

    const second = await runAgainst(sim, db, [...FAST, '--jobs-dir', jobsDir]);
    expect(second.code, second.stderr).toBe(0);
    expect(parseSummary(second).jobs['legacy-notes']).toMatchObject({ done: 1, failed: 0 });
    expect(item(db, 'legacy-notes', '1')).toMatchObject({ state: 'done', error: null });
    const created = sim.records('organizations').filter((o: any) => o.external_id === 'legacy-notes:1');
    expect(created.map((o: any) => o.name)).toEqual(['Fixed']);
  });

  it('retry of a brand_forbidden ticket, once the credential may use the brand, creates it', async () => {
    const db = path.join(tmp.dir, 'brand.sqlite');
    const dir = path.join(tmp.dir, 'brand-export');
    mkdirSync(dir);
    const users = writeNdjson(path.join(dir, 'users.ndjson'), [{ id: 601, name: 'Req', email: 'req601@example.com', role: 'end-user' }]);
    const tickets = writeNdjson(path.join(dir, 'tickets.ndjson'), [
      { id: 9101, subject: 'Globex ticket', brand_id: 2, requester_id: 601, status: 'open', priority: 'normal', description: 'd', comments: [] },
    ]);
    const brandMap = path.join(dir, 'brands.json');
    writeFileSync(brandMap, JSON.stringify({ 2: 'brd_globex' }));
    expect((await runCli(['load', 'zendesk-users', users, '--db', db])).code).toBe(0);
    expect((await runCli(['load', 'zendesk-tickets', tickets, '--db', db])).code).toBe(0);
    const scopes = ['tickets:read', 'tickets:write', 'users:read', 'users:write', 'brands:read'] as const;
    const keyEnv = (apiKey: string) => ({ ...simEnv(sim), NEXUSCORE_CLIENT_ID: '', NEXUSCORE_CLIENT_SECRET: '', NEXUSCORE_API_KEY: apiKey });

    const acmeOnly = sim.createApiKey({ scopes: [...scopes], brands: ['brd_acme'] });
    const first = await runCli(['run', '--db', db, '--json', ...FAST, '--brand-map', brandMap], { env: keyEnv(acmeOnly) });
    expect(first.code).toBe(2);
    expect(item(db, 'zendesk-tickets', '9101')).toMatchObject({ state: 'failed', error: { status: 403, code: 'brand_forbidden' } });

    // Access granted (a credential that may use both brands); the same body goes out again after retry.
    expect((await runCli(['retry', 'zendesk-tickets', '--db', db])).code).toBe(0);
    expect(item(db, 'zendesk-tickets', '9101')).toMatchObject({ state: 'pending', generation: 1 });
    const both = sim.createApiKey({ scopes: [...scopes], brands: ['brd_acme', 'brd_globex'] });
    const second = await runCli(['run', '--db', db, '--json', ...FAST, '--brand-map', brandMap], { env: keyEnv(both) });
    expect(second.code, second.stderr).toBe(0);
    expect(parseSummary(second).jobs['zendesk-tickets']).toMatchObject({ done: 1, failed: 0 });
    const ticket: any = sim.records('tickets').find((t: any) => t.external_id === 'zendesk-tickets:9101');
    expect(ticket?.brand_id).toBe('brd_globex');
  });
});
