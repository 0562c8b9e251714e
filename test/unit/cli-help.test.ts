import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli, startCli } from '../helpers/cli.js';

describe('cli', () => {
  it('prints help listing the global options', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--base-url');
    expect(r.stdout).toContain('NEXUSCORE_CLIENT_ID');
  });

  it('stops at a usage error with exit 1 before the command does anything', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nb-usage-'));
    try {
      const db = path.join(dir, 'store.sqlite');
      const sample = path.join(ROOT, 'data/sample/organizations.ndjson');
      // A mistyped option, and a value outside the choices: the load must not happen.
      for (const args of [
        ['load', 'zendesk-organizations', sample, '--db', db, '--dry-rn'],
        ['retry', 'zendesk-organizations', '--only', 'invalid', '--db', db],
      ]) {
        const r = await runCli(args);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr).toMatch(/Unknown argument|Invalid values/);
        expect(r.stderr).toContain('Run with --help for usage.');
        expect(existsSync(db), `${args[0]} created the store`).toBe(false);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ends quietly when the reader of its output goes away (| head)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nb-pipe-'));
    try {
      const db = path.join(dir, 'store.sqlite');
      // Tickets staged as users: 400 invalid items, ~600 KB of export-failed output, far over a pipe's buffer.
      expect((await runCli(['load', 'zendesk-users', path.join(ROOT, 'data/sample/tickets.ndjson'), '--db', db])).code).toBe(0);
      const { child, done } = startCli(['export-failed', 'zendesk-users', '--db', db]);
      child.stdout!.once('data', () => child.stdout!.destroy());
      const r = await done;
      expect(r.stderr).not.toMatch(/EPIPE|unexpected error|at .*\.js:\d+/);
      expect(r.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checks run options with --dry-run too, and names a non-number as such', async () => {
    const r = await runCli(['run', '--dry-run', '--max-attempts', '-1', '--concurrency', 'abc', '--db', path.join(os.tmpdir(), 'nb-none.sqlite')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Expected --concurrency to be a whole number >= 1, got something that is not a number.');
    expect(r.stderr).toContain('Expected --max-attempts to be a whole number >= 1, got `-1`.');
  });
});

