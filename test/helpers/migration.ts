/**
 * Shared set-up for engine tests: a store in a temp dir with the bundled
 * sample export staged, and the CLI pointed at a running simulator.
 */
import { mkdtempSync, rmSync } from 'node:fs';
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
