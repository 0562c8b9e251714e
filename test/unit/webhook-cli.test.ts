import { describe, expect, it } from 'vitest';
import { signWebhookPayload } from '../../src/webhook/index.js';
import { runCli } from '../helpers/cli.js';

const BODY = '{"id":"evt_9","type":"user.created","data":{"id":"usr_1"}}';

describe('cli: webhook verify', () => {
  it('exits 0 for a valid signature, with rotation secrets in the environment', async () => {
    const sig = signWebhookPayload(BODY, 'new');
    const r = await runCli(['webhook', 'verify', '--signature', sig], { input: BODY, env: { NEXUSCORE_WEBHOOK_SECRET: 'old, new' } });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('valid');
  });

  it('exits 1 with the reason for a tampered body, and prints JSON with --json', async () => {
    const sig = signWebhookPayload(BODY, 's3cret');
    const r = await runCli(['webhook', 'verify', '--signature', sig], { input: `${BODY} `, env: { NEXUSCORE_WEBHOOK_SECRET: 's3cret' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('signature mismatch');
    const j = await runCli(['webhook', 'verify', '--signature', sig, '--json'], { input: `${BODY} `, env: { NEXUSCORE_WEBHOOK_SECRET: 's3cret' } });
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toEqual({ valid: false, reason: expect.stringContaining('signature mismatch') });
  });

  it('exits 1 for a stale signature, honouring --tolerance', async () => {
    const sig = signWebhookPayload(BODY, 'k', Math.floor(Date.now() / 1000) - 100);
    const strict = await runCli(['webhook', 'verify', '--signature', sig, '--tolerance', '30'], { input: BODY, env: { NEXUSCORE_WEBHOOK_SECRET: 'k' } });
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('too old');
    const lax = await runCli(['webhook', 'verify', '--signature', sig], { input: BODY, env: { NEXUSCORE_WEBHOOK_SECRET: 'k' } });
    expect(lax.code).toBe(0);
  });

  it('exits 1 when the secret is not configured or the signature flag is missing', async () => {
    const noSecret = await runCli(['webhook', 'verify', '--signature', 't=1,v1=00'], { input: BODY });
    expect(noSecret.code).toBe(1);
    expect(noSecret.stderr).toContain('NEXUSCORE_WEBHOOK_SECRET');
    const noFlag = await runCli(['webhook', 'verify'], { input: BODY, env: { NEXUSCORE_WEBHOOK_SECRET: 'k' } });
    expect(noFlag.code).toBe(1);
    expect(noFlag.stderr).toContain('signature');
  });
});
