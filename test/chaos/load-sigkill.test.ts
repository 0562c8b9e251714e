import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, startCli } from '../helpers/cli.js';
import { openStore } from '../../src/store/index.js';
import { sampleTickets, writeNdjson, TICKET_BASE } from '../../src/sources/sample-export.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nb-chaos-load-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function counts(db: string) {
  const s = openStore(db, { mode: 'reader' });
  try {
    return s.counts(['zendesk-tickets'])['zendesk-tickets']!;
  } finally {
    s.close();
  }
}

describe('SIGKILL during load', () => {
  it('the same load afterwards ends with exactly the right items', async () => {
    const N = 40_000;
    const file = path.join(dir, 'tickets.ndjson');
    await writeNdjson(file, sampleTickets({ tickets: N, users: 100, organizations: 5, descriptionBytes: 200 }));
    const db = path.join(dir, 'store.sqlite');
    const load = startCli(['load', 'zendesk-tickets', file, '--db', db, '--json']);
    // Kill once some batches are committed, before the end.
    let staged = 0;
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      try {
        staged = counts(db).pending;
      } catch {
        staged = 0;
      }
      if (staged > 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    load.child.kill('SIGKILL');
    const killed = await load.done;
    expect(killed.signal).toBe('SIGKILL');
    const afterKill = counts(db).pending;
    expect(afterKill).toBeGreaterThan(0);
    expect(afterKill).toBeLessThan(N);

    const again = await runCli(['load', 'zendesk-tickets', file, '--db', db, '--json']);
    expect(again.code, again.stderr).toBe(0);
    const r = JSON.parse(again.stdout).jobs['zendesk-tickets'];
    expect(r).toEqual({ new: N - afterKill, unchanged: afterKill, changed: 0, invalid: 0 });
    expect(counts(db)).toEqual({ pending: N, inflight: 0, done: 0, failed: 0, dead: 0, invalid: 0 });
    const s = openStore(db, { mode: 'reader' });
    expect(s.getItem('zendesk-tickets', String(TICKET_BASE + 1))?.line).toBe(1);
    expect(s.getItem('zendesk-tickets', String(TICKET_BASE + N))?.line).toBe(N);
    expect(s.getItem('zendesk-tickets', String(TICKET_BASE + N + 1))).toBeNull();
    s.close();
  });
});
