import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSimClient } from '../../src/sim/index.js';
import { runCli, startCli } from '../helpers/cli.js';

/** Resolves with the first stdout line of a started CLI. */
function firstLine(child: ReturnType<typeof startCli>['child']): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer | string) => {
      buf += String(d);
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.on('close', () => reject(new Error(`sim exited before printing its JSON line: ${buf}`)));
  });
}

describe('cli: sim', () => {
  it('prints one JSON line with working credentials, serves the flags given, and exits 0 on SIGTERM', async () => {
    const { child, done } = startCli(['sim', '--port', '0', '--limit', '3/10s', '--no-unique-external-id', '--ratelimit-headers', '--fault-503', '0']);
    const info = JSON.parse(await firstLine(child));
    expect(Object.keys(info).sort()).toEqual(['api_key', 'ca_file', 'client_id', 'client_secret', 'url', 'webhook_secret']);
    expect(info.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(readFileSync(info.ca_file, 'utf8')).toContain('BEGIN CERTIFICATE');
    const c = createSimClient({ url: info.url, caFile: info.ca_file });
    try {
      const tok = await c.token({ grant_type: 'client_credentials', client_id: info.client_id, client_secret: info.client_secret });
      expect(tok.status).toBe(200);
      const a = await c.send('/v1/organizations', { auth: tok.body.access_token, body: { name: 'A', external_id: 'x' } });
      const b = await c.send('/v1/organizations', { auth: info.api_key, body: { name: 'B', external_id: 'x' } });
      expect([a.status, b.status]).toEqual([201, 201]);
      expect(a.headers['ratelimit-policy']).toBe('"3-per-10s";q=3;w=10');
      expect((await c.send('/v1/brands', { auth: info.api_key })).status).toBe(200);
      expect((await c.send('/v1/brands', { auth: info.api_key })).status).toBe(429);
      const stats = await c.stats();
      expect(stats).toMatchObject({ counted: 3, rateLimited: 1, tokensIssued: 1, duplicateExternalIds: { organizations: 1 } });
      expect(stats.maxInWindow).toEqual([{ windowMs: 10_000, count: 3, max: 3, enforced: true }]);
      const limits = await c.send('/__sim/limits', { method: 'POST', body: { limits: ['100/1s'] } });
      expect(limits.body.limits).toEqual([{ count: 100, windowMs: 1000 }]);
      expect((await c.send('/v1/brands', { auth: info.api_key })).status).toBe(200);
    } finally {
      await c.close();
      child.kill('SIGTERM');
    }
    const r = await done;
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('stopped');
  });

  it('refuses bad flags with exit 1 and a message naming the flag', async () => {
    const bad = await runCli(['sim', '--limit', 'lots']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--limit');
    const prob = await runCli(['sim', '--fault-503', '1.5']);
    expect(prob.code).toBe(1);
    expect(prob.stderr).toContain('--fault-503');
  });

  it('documents itself in --help', async () => {
    const r = await runCli(['sim', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--limit', '--no-limit', '--fault-drop', '--revoke-at', '--webhook-url', '/__sim/stats']) expect(r.stdout).toContain(flag);
  });
});
