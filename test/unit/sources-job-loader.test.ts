import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadJobs } from '../../src/sources/job-loader.js';
import { UsageError } from '../../src/errors.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function jobsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nb-jobs-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

const good = (name: string, deps = '[]') => `export default {
  name: '${name}', scopes: ['tickets:write'], dependsOn: ${deps}, resource: 'tickets',
  parse: (raw) => ({ ok: true, record: raw }), key: (r) => String(r.id),
  map: (r) => ({ method: 'POST', path: '/v1/tickets', body: { external_id: String(r.id) } }),
};\n`;

describe('job loader', () => {
  it('finds the bundled Zendesk jobs with scopes and dependencies', async () => {
    const jobs = await loadJobs();
    expect(Object.fromEntries(jobs.map((j) => [j.job.name, [j.job.scopes, j.job.dependsOn ?? [], j.bundled]]))).toEqual({
      'zendesk-brands': [['brands:read'], [], true],
      'zendesk-organizations': [['users:write'], [], true],
      'zendesk-tickets': [['tickets:write'], ['zendesk-users', 'zendesk-organizations'], true],
      'zendesk-users': [['users:write'], ['zendesk-organizations'], true],
    });
  });

  it('adds a user’s .ts and .js jobs', async () => {
    const dir = jobsDir({ 'backfill-notes.ts': good('backfill-notes', "['zendesk-tickets']"), 'other.mjs': good('other-job') });
    const names = (await loadJobs({ jobsDir: dir })).filter((j) => !j.bundled).map((j) => j.job.name);
    expect(names.sort()).toEqual(['backfill-notes', 'other-job']);
  });

  it('names the file and what is wrong, for every bad file at once', async () => {
    const dir = jobsDir({
      'a-no-job.ts': 'export const answer = 42;\n',
      'b-bad-shape.ts': "export default { name: 'Bad Name', scopes: ['tickets:write', 'admin'], resource: 'tickets', parse: 1, key: () => '1', map: () => ({}) };\n",
      'c-syntax.ts': 'export default {{{\n',
      'd-dep.ts': good('needs-ghost', "['ghost-job']"),
      'e-twin.ts': good('zendesk-tickets').replace("name: 'zendesk-tickets'", "name: 'twin'") + good('twin').replace('export default', 'export const second ='),
    });
    const err = await loadJobs({ jobsDir: dir }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UsageError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/a-no-job\.ts: exports no job/);
    expect(msg).toMatch(/b-bad-shape\.ts: the default export is not a valid job: name must be a kebab-case string.*scopes must be an array.*parse must be a function, got number/);
    expect(msg).toMatch(/c-syntax\.ts: cannot be loaded/);
    expect(msg).toMatch(/d-dep\.ts: needs-ghost depends on ghost-job, which no job file defines/);
    expect(msg).toMatch(/e-twin\.ts: defines the job twin, already defined in/);
  });

  it('refuses a --jobs-dir that is not a directory', async () => {
    await expect(loadJobs({ jobsDir: '/nonexistent/jobs' })).rejects.toThrow(/--jobs-dir \/nonexistent\/jobs is not a directory/);
  });
});
