/**
 * The README is checked by running it: every `nexus-backfill` command line it
 * shows names a real command and real options, its job example loads as a
 * user's job would (from a project that depends on nexus-backfill), and the
 * scripts it promises exist.
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/migration.js';

const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]! }));

describe('README', () => {
  const tmp = tempDir('nexus-readme-');
  afterAll(() => tmp.cleanup());

  it('shows only commands and options that exist', async () => {
    const invocations = blocks
      .filter((b) => b.lang === 'sh')
      .flatMap((b) => b.code.split('\n'))
      .map((l) => l.replace(/#.*$/, '').trim())
      .filter((l) => l.startsWith('npx nexus-backfill '))
      .map((l) => l.slice('npx nexus-backfill '.length).split(/\s+/));
    expect(invocations.length).toBeGreaterThan(8);
    const helpCache = new Map<string, string>();
    for (const words of invocations) {
      const command = words[0]!;
      if (!helpCache.has(command)) {
        const r = await runCli([command, '--help']);
        expect(r.code, `nexus-backfill ${command} --help`).toBe(0);
        helpCache.set(command, r.stdout);
      }
      for (const flag of words.filter((w) => w.startsWith('--'))) {
        expect(helpCache.get(command), `${command} ${flag}`).toContain(flag.split('=')[0]);
      }
    }
  });

  it('promises only npm scripts that package.json has', () => {
    const scripts = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts;
    for (const m of readme.matchAll(/npm run ([\w:-]+)/g)) expect(scripts, m[1]).toHaveProperty(m[1]!);
    expect(scripts).toHaveProperty('test');
  });

  it('its job example loads from a project that depends on nexus-backfill', async () => {
    const example = blocks.find((b) => b.lang === 'ts' && b.code.includes('defineJob'));
    expect(example).toBeDefined();
    const project = path.join(tmp.dir, 'project');
    mkdirSync(path.join(project, 'node_modules'), { recursive: true });
    mkdirSync(path.join(project, 'my-jobs'));
    symlinkSync(ROOT, path.join(project, 'node_modules', 'nexus-backfill'), 'dir');
    writeFileSync(path.join(project, 'my-jobs', 'legacy-contacts.ts'), example!.code);
    const r = await runCli(['jobs', '--jobs-dir', 'my-jobs', '--json'], { cwd: project });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const jobs = JSON.parse(r.stdout);
    const listed = (Array.isArray(jobs) ? jobs : jobs.jobs).find((j: any) => j.name === 'legacy-contacts');
    expect(listed).toMatchObject({ scopes: ['users:write'], depends_on: ['zendesk-organizations'], source: expect.not.stringMatching(/^bundled$/) });
  });
});
