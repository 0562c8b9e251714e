/**
 * Crash resume: a real child `run` is SIGKILLed at ten seeded moments
 * (during start-up, during sends, during batch writes), then run again until
 * it finishes, against a simulator that does NOT enforce external_id
 * uniqueness and that stores-then-drops 2% of requests and answers 503 to 3%.
 * Only the Idempotency-Key stands between a crash and a duplicate here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRandom } from '../../src/random.js';
import { startSimulator, type Simulator } from '../../src/sim/index.js';
import { runCli } from '../helpers/cli.js';
import { parseSummary, runAgainst, SAMPLE_FILES, stageSample, startAgainst, tempDir } from '../helpers/migration.js';

function count(file: string): number {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).length;
}


describe('crash resume under faults, uniqueness off', () => {
  let sim: Simulator;
  const tmp = tempDir();
  afterAll(async () => {
    await sim?.close();
    tmp.cleanup();
  });

  it('ten SIGKILLs later, exactly one record per external_id and none missing', async () => {
    sim = await startSimulator({ limits: [], uniqueExternalId: false, seed: 7, faults: { storeThenDrop: 0.02, error503: 0.03, latencyMs: 2, jitterMs: 6 } });
    const db = path.join(tmp.dir, 'crash.sqlite');
    await stageSample(db);
    const args = ['--limit', '400/1s', '--concurrency', '8', '--timeout', '5s', '--no-progress'];
    const random = createRandom(20261130);
    const kills: number[] = [];
    let statusChecked = false;
    for (let i = 0; i < 10; i++) {
      // Spread over start-up (first ~300 ms: loading jobs, opening the store, the token) and the sending itself.
      const delay = i < 2 ? Math.floor(random() * 300) : 300 + Math.floor(random() * 1200);
      kills.push(delay);
      const run = startAgainst(sim, db, args);
      await new Promise((r) => setTimeout(r, delay));
      run.child.kill('SIGKILL');
      const r = await run.done;
      // A run may finish before its kill lands; that is fine, the next ones resume nothing.
      expect(r.signal === 'SIGKILL' || r.code === 2).toBe(true);
      if (!statusChecked && r.signal === 'SIGKILL') {
        // Killed: status names no writer (the next run takes over), and a run killed after it started says it did not finish.
        const st = await runCli(['status', '--db', db, '--json']);
        const json = JSON.parse(st.stdout) as { writer: unknown; runs: { outcome: string | null }[] };
        expect(json.writer).toBeNull();
        if (json.runs[0]?.outcome === null) {
          statusChecked = true;
          const text = (await runCli(['status', '--db', db])).stdout;
          expect(text).not.toContain('In use by');
          expect(text).toContain('ended without finishing (killed or crashed)');
        }
      }
    }
    expect(statusChecked, 'no run was killed while sending').toBe(true);
    let final = await runAgainst(sim, db, args);
    for (let i = 0; i < 3 && final.code !== 2; i++) final = await runAgainst(sim, db, args);
    const s = parseSummary(final);
    expect(final.code).toBe(2);

    const expected = {
      organizations: count(SAMPLE_FILES['zendesk-organizations']),
      users: count(SAMPLE_FILES['zendesk-users']),
      tickets: count(SAMPLE_FILES['zendesk-tickets']) - s.jobs['zendesk-tickets'].failed,
    };
    const stats = sim.stats();
    expect(stats.records).toMatchObject(expected);
    expect(stats.duplicateExternalIds).toEqual({ organizations: 0, users: 0, tickets: 0 });
    for (const type of ['organizations', 'users', 'tickets'] as const) {
      expect(Object.keys(stats.externalIds[type]).length).toBe(expected[type]);
    }
    // The faults really happened: replays of dropped requests prove the key did the work.
    expect(stats.replays).toBeGreaterThan(0);
    expect(s.jobs['zendesk-tickets'].dead + s.jobs['zendesk-users'].dead + s.jobs['zendesk-organizations'].dead).toBe(0);
  });
});

describe('resuming respects the quota', () => {
  let sim: Simulator;
  const tmp = tempDir();
  afterAll(async () => {
    await sim?.close();
    tmp.cleanup();
  });

  it('a run restarted right after SIGKILL does not burst into windows the server still counts', async () => {
    // Time-compressed windows, the same on both sides: an uninterrupted run gets no 429 at all.
    sim = await startSimulator({ limits: [{ count: 40, windowMs: 1_000 }, { count: 120, windowMs: 5_000 }], faults: { latencyMs: 5 } });
    const db = path.join(tmp.dir, 'quota.sqlite');
    await stageSample(db, { 'zendesk-organizations': SAMPLE_FILES['zendesk-organizations'], 'zendesk-users': SAMPLE_FILES['zendesk-users'] });
    const args = ['--limit', '40/1s', '--limit', '120/5s', '--concurrency', '8', '--no-progress'];
    for (const delay of [700, 1_900, 3_100]) {
      const run = startAgainst(sim, db, args);
      await new Promise((r) => setTimeout(r, delay));
      run.child.kill('SIGKILL');
      await run.done;
    }
    const final = await runAgainst(sim, db, args);
    expect(final.code).toBe(0);
    const stats = sim.stats();
    expect(stats.records.users).toBe(count(SAMPLE_FILES['zendesk-users']));
    expect(stats.rateLimited, JSON.stringify(stats.maxInWindow)).toBe(0);
    for (const w of stats.maxInWindow) expect(w.max).toBeLessThanOrEqual(w.count);
  });
});
