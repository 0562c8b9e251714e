import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('cli', () => {
  it('prints help listing the global options', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--base-url');
    expect(r.stdout).toContain('NEXUSCORE_CLIENT_ID');
  });
});
