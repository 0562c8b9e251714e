/**
 * `npm run demo` as a newcomer runs it: the built CLI in a fresh working
 * directory, twice (the second demo starts from a clean store).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/migration.js';

describe('demo', () => {
  const tmp = tempDir('nexus-demo-');
  afterAll(() => tmp.cleanup());

  it('migrates the sample with refreshes, 429s, retried 5xx and two explained failures; twice', { timeout: 180_000 }, async () => {
    for (let round = 0; round < 2; round++) {
      const r = await runCli(['demo', '--json'], { cwd: tmp.dir, timeoutMs: 90_000 });
      expect(r.code).toBe(0);
      const s = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(s.jobs['zendesk-organizations']).toMatchObject({ done: 20, pending: 0, failed: 0, dead: 0 });
      expect(s.jobs['zendesk-users']).toMatchObject({ done: 150, pending: 0, failed: 0, dead: 0 });
      expect(s.jobs['zendesk-tickets']).toMatchObject({ done: 398, pending: 0, failed: 2, dead: 0 });
      expect(s.token_refreshes).toBeGreaterThan(0);
      expect(s.responses['429']).toBeGreaterThan(0);
      expect(s.responses['5xx']).toBeGreaterThan(0);
      expect(s.retries).toBeGreaterThan(0);
      // A clean store each time: the simulator (new per demo) saw every record exactly once.
      expect(s.simulator.records).toEqual({ organizations: 20, users: 150, tickets: 398 });
      expect(s.simulator.duplicate_external_ids).toEqual({ organizations: 0, users: 0, tickets: 0 });
      expect(r.stderr).toMatch(/requester_id.* at zendesk-users:\d+, which is absent from the staged export/);
      expect(r.stderr).toContain('export-failed zendesk-tickets');
      expect(r.stderr).toContain(path.join('data', 'demo', 'demo.sqlite'));
      expect(existsSync(path.join(tmp.dir, 'data/demo/demo.sqlite'))).toBe(true);
    }
  });
});
