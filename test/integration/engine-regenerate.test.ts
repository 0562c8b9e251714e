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

/**
 * The same export migrated from two stores (a second machine, or a store started over) within the server's
 * 24 hours, with bodies that differ (other options, an edited job): the second store's create meets its key
 * sent with another body (422 idempotency_key_reused). On a workspace that stores duplicate external_ids,
 * sending it under a new key blindly would create the record twice.
 */
describe('a key another store sent with another body', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ limits: [], uniqueExternalId: false });
  });
  afterAll(async () => sim?.close());

  const migrate = async (name: string, rows: unknown[]) => {
    const db = path.join(tmp.dir, `${name}.sqlite`);
    const file = writeNdjson(path.join(tmp.dir, `${name}.ndjson`), rows);
    expect((await runCli(['load', 'legacy-notes', file, '--db', db, '--jobs-dir', jobsDir])).code).toBe(0);
    return { db, run: await runAgainst(sim, db, [...FAST, '--jobs-dir', jobsDir]) };
  };
  const named = (key: string) => sim.records('organizations').filter((o: any) => o.external_id === key);

  it('adopts the record the other store created, instead of creating it again', async () => {
    const a = await migrate('store-a', [{ id: 31, title: 'Initech', domains: ['initech.example'] }]);
    expect(a.run.code, a.run.stderr).toBe(0);
    const created = item(a.db, 'legacy-notes', '31')!.targetId;
    expect(created).toEqual(expect.any(String));

    const b = await migrate('store-b', [{ id: 31, title: 'Initech Corp.', domains: ['initech.example'] }]);
    expect(b.run.code, b.run.stderr).toBe(0);
    expect(parseSummary(b.run).jobs['legacy-notes']).toMatchObject({ done: 1, failed: 0 });
    expect(item(b.db, 'legacy-notes', '31')).toMatchObject({ state: 'done', targetId: created, generation: 0 });
    expect(named('legacy-notes:31').map((o: any) => o.name)).toEqual(['Initech']);
  });

  it('sends it under a new key when the other store created nothing (its send was refused)', async () => {
    const c = await migrate('store-c', [{ id: 32, title: 'Broken', domains: 'not-a-list.example' }]);
    expect(c.run.code).toBe(2);
    expect(item(c.db, 'legacy-notes', '32')).toMatchObject({ state: 'failed', error: { status: 422, code: 'validation_failed' } });

    const d = await migrate('store-d', [{ id: 32, title: 'Fixed', domains: ['fixed.example'] }]);
    expect(d.run.code, d.run.stderr).toBe(0);
    expect(item(d.db, 'legacy-notes', '32')).toMatchObject({ state: 'done', generation: 1, error: null });
    expect(named('legacy-notes:32').map((o: any) => o.name)).toEqual(['Fixed']);
  });
});
