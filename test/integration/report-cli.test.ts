/**
 * `report` end to end: two real runs of the built CLI against the simulator
 * (organizations, then users), then `report` reads the store they left. Its
 * numbers must be the runs' own --json summaries, and the HTML page must be
 * self-contained and free of the client secret.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import { runCli } from '../helpers/cli.js';
import { FAST, parseSummary, runAgainst, SAMPLE_FILES, stageSample, tempDir } from '../helpers/migration.js';

describe('report: throughput across real runs', () => {
  let sim: Simulator;
  const tmp = tempDir('nexus-report-');
  const db = path.join(tmp.dir, 'store.sqlite');
  const summaries: any[] = [];

  beforeAll(async () => {
    sim = await startSimulator({ limits: [] });
    await stageSample(db, { 'zendesk-organizations': SAMPLE_FILES['zendesk-organizations'] });
    const first = await runAgainst(sim, db, ['zendesk-organizations', ...FAST]);
    expect(first.code, first.stderr).toBe(0);
    summaries.push(parseSummary(first));
    await stageSample(db, { 'zendesk-users': SAMPLE_FILES['zendesk-users'] });
    const second = await runAgainst(sim, db, ['zendesk-users', ...FAST]);
    expect(second.code, second.stderr).toBe(0);
    summaries.push(parseSummary(second));
  });
  afterAll(async () => {
    await sim?.close();
    tmp.cleanup();
  });

  const report = async (args: string[]) => {
    const r = await runCli(['report', '--db', db, ...args]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(sim.clientSecret);
    return r;
  };

  it("--json gives each run's numbers as its own summary gave them, and their totals", async () => {
    const r = await report(['--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc.runs.map((x: any) => x.run_id)).toEqual(summaries.map((s) => s.run_id));
    for (const [i, s] of summaries.entries()) {
      const run = doc.runs[i];
      expect(s.requests).toBeGreaterThan(0);
      expect(run).toMatchObject({ requests: s.requests, items_done: s.items_done, outcome: s.outcome, retries: s.retries, latency_ms: s.latency_ms });
      expect(run.responses).toEqual(s.responses);
      expect(run.responses['2xx']).toBe(s.responses['2xx']);
      expect(run.elapsed_s).toBe(s.elapsed_s);
      expect(run.windows).toEqual(['2000/1s']);
    }
    const sum = (k: string) => summaries.reduce((a, s) => a + s[k], 0);
    expect(doc.totals).toMatchObject({ runs: 2, requests: sum('requests'), items_done: sum('items_done') });
    expect(doc.totals.responses['2xx']).toBe(summaries.reduce((a, s) => a + s.responses['2xx'], 0));
    expect(doc.items['zendesk-organizations'].done).toBe(summaries[0].items_done);
    expect(doc.items['zendesk-users'].done).toBe(summaries[1].items_done);
    expect(doc.eta).toMatchObject({ pending: 0, seconds: 0 });
    const timelineRequests = doc.timeline.points.reduce((a: number, p: any) => a + p.requests_per_s * p.width_s, 0);
    expect(Math.round(timelineRequests)).toBe(sum('requests'));
  });

  // The store's key-based redaction of summaries (src/store/checkpoint-store.ts) takes
  // `token_refreshes` for a secret and stores "[redacted]": this fails until it stops doing so.
  it('keeps the token refresh count each run reported', async () => {
    const doc = JSON.parse((await report(['--json'])).stdout);
    expect(doc.runs.map((x: any) => x.token_refreshes)).toEqual(summaries.map((s) => s.token_refreshes));
  });

  it('restricts to the runs that touched the named jobs', async () => {
    const doc = JSON.parse((await report(['zendesk-organizations', '--json'])).stdout);
    expect(doc.runs.map((x: any) => x.run_id)).toEqual([summaries[0].run_id]);
    expect(doc.totals.requests).toBe(summaries[0].requests);
    expect(Object.keys(doc.items)).toEqual(['zendesk-organizations']);
  });

  it('prints a table of the runs by default', async () => {
    const r = await report([]);
    for (const s of summaries) expect(r.stdout).toContain(s.run_id);
    expect(r.stdout).toMatch(/^\s*total\s/m);
    expect(r.stdout).toContain('zendesk-users');
  });

  it('--html writes a private, self-contained page with charts and says where', async () => {
    const file = path.join(tmp.dir, 'report.html');
    const r = await report(['--html', file]);
    expect(r.stdout).toContain(file);
    const html = readFileSync(file, 'utf8');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script\s+src/i);
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toContain(sim.clientSecret);
    for (const s of summaries) expect(html).toContain(s.run_id);
  });

  it('refuses a job that no run touched and the store does not hold (exit 1, no empty report)', async () => {
    for (const args of [['zendesk-nothing', '--json'], ['zendesk-nothing'], ['zendesk-organizations', 'zendesk-nothing']]) {
      const r = await runCli(['report', '--db', db, ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('No run touched zendesk-nothing and the store holds no items for it: check the name');
    }
  });
});
