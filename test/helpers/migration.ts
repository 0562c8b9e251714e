/**
 * Shared set-up for engine tests: a store in a temp dir with the bundled
 * sample export staged, and the CLI pointed at a running simulator.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Simulator } from '../../src/sim/index.js';
import { ROOT, runCli, startCli, type CliOptions, type CliResult } from './cli.js';

export const SAMPLE_DIR = path.join(ROOT, 'data/sample');
export const SAMPLE_FILES = {
  'zendesk-organizations': path.join(SAMPLE_DIR, 'organizations.ndjson'),
  'zendesk-users': path.join(SAMPLE_DIR, 'users.ndjson'),
  'zendesk-tickets': path.join(SAMPLE_DIR, 'tickets.ndjson'),
} as const;

export function tempDir(prefix = 'nexus-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Stages the bundled sample export into `db` through the real `load` command. */
export async function stageSample(db: string, files: Partial<Record<keyof typeof SAMPLE_FILES, string>> = SAMPLE_FILES): Promise<void> {
  for (const [job, file] of Object.entries(files)) {
    const r = await runCli(['load', job, file, '--db', db, '--json']);
    if (r.code !== 0) throw new Error(`load ${job} failed (${r.code}): ${r.stderr}`);
  }
}

/** Environment for the CLI to reach `sim` with OAuth client credentials. */
export function simEnv(sim: Simulator, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    NEXUSCORE_BASE_URL: sim.url,
    NEXUSCORE_CA_FILE: sim.caFile,
    NEXUSCORE_CLIENT_ID: sim.clientId,
    NEXUSCORE_CLIENT_SECRET: sim.clientSecret,
    ...extra,
  };
}

/** Fast limits for tests: the simulator's windows are lifted, the runner keeps to these. */
export const FAST = ['--limit', '2000/1s', '--concurrency', '8', '--no-progress'];

export function runAgainst(sim: Simulator, db: string, args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return runCli(['run', '--db', db, '--json', ...args], { ...opts, env: { ...simEnv(sim), ...opts.env } });
}

export function startAgainst(sim: Simulator, db: string, args: string[], opts: CliOptions = {}) {
  return startCli(['run', '--db', db, '--json', ...args], { ...opts, env: { ...simEnv(sim), ...opts.env } });
}

export function parseSummary(r: CliResult): any {
  const line = r.stdout.trim().split('\n').filter(Boolean).pop();
  if (!line) throw new Error(`no JSON summary on stdout (exit ${r.code}); stderr:\n${r.stderr}`);
  return JSON.parse(line);
}

/** Writes rows as NDJSON and returns the file. */
export function writeNdjson(file: string, rows: unknown[]): string {
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

/**
 * A user's job file in `dir` (TypeScript, loaded with --jobs-dir): `legacy-notes`
 * creates an organization per record `{id, title, domains}`, so a record whose
 * `domains` is not a list is refused by the API with 422.
 */
export function writeLegacyNotesJob(dir: string, body = '{ name: n.title, domain_names: n.domains }'): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'legacy-notes.ts'),
    `import { defineJob } from ${JSON.stringify(path.join(ROOT, 'src/index.ts'))};
interface Note { id: number; title: string; domains: unknown }
export default defineJob<Note>({
  name: 'legacy-notes',
  scopes: ['users:write'],
  resource: 'organizations',
  parse(raw: any) {
    return typeof raw?.id === 'number' && typeof raw.title === 'string' ? { ok: true, record: raw as Note } : { ok: false, reason: 'needs id and title' };
  },
  key: (n) => String(n.id),
  map: (n) => ({ method: 'POST', path: '/v1/organizations', body: ${body} }),
});
`,
  );
}
