/**
 * The token-refreshing half of the sender, over real sockets against the
 * simulator: long jobs across many token lifetimes, revocation, concurrent
 * 401s, bad secrets, revoked keys, missing scopes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AuthError } from '../../src/errors.js';
import { brandSpecs, drive, kinds, orgSpecs, startRig, type Rig } from './sender-helpers.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('sender auth against the simulator', () => {
  it('a job spanning ~10 token lifetimes (TTL 2 s, ~20 s of sending): no failed item, about one token request per lifetime', async () => {
    rig = await startRig({ tokenTtlS: 2, limits: [] }, { windows: [{ count: 20, windowMs: 1000 }], concurrency: 4 });
    const specs = orgSpecs(400, 'ttl');
    const res = await drive(rig, specs);
    const s = rig.sim.stats();
    expect(kinds(res.outcomes)).toEqual({ done: 400 });
    expect(s.records.organizations).toBe(400);
    // 20 s of sending / 2 s lifetimes, refreshed at 200 ms before expiry: 11 or 12 tokens, never one per request.
    expect(s.tokensIssued).toBeGreaterThanOrEqual(10);
    expect(s.tokensIssued).toBeLessThanOrEqual(14);
    expect(s.tokenRequests).toBe(s.tokensIssued);
    // Proactive refresh: at most a stray 401 from a send delayed past its token's expiry (it is replayed, not failed).
    expect(s.responses['401'] ?? 0).toBeLessThanOrEqual(2);
  });

  it('revocation mid-run: every item still succeeds, with one refresh per revocation', async () => {
    rig = await startRig({ limits: [] }, { windows: [{ count: 50, windowMs: 1000 }], concurrency: 8 });
    const specs = orgSpecs(120, 'rev');
    const revokeAt = Date.now() + 1000;
    rig.sim.revokeAllTokens(revokeAt);
    const res = await drive(rig, specs);
    const s = rig.sim.stats();
    expect(kinds(res.outcomes)).toEqual({ done: 120 });
    expect(s.records.organizations).toBe(120);
    expect(s.responses['401']).toBeGreaterThan(0);
    expect(s.tokensIssued).toBe(2);
    expect(rig.sender.totals().refreshes).toBe(s.responses['401']);
  });

  it('50 concurrent 401s cause exactly one token request', async () => {
    rig = await startRig({ limits: [] }, { concurrency: 50 });
    await rig.auth.token();
    rig.sim.revokeAllTokens();
    const results = await Promise.all(brandSpecs(50).map((spec) => rig!.sender.send(spec)));
    const s = rig.sim.stats();
    expect(s.responses['401']).toBe(50);
    expect(s.tokensIssued).toBe(2);
    expect(results.map((r) => r.response?.status)).toEqual(Array(50).fill(200));
    expect(results.every((r) => r.sends === 2 && r.authReplayed)).toBe(true);
  });

  it('invalid_client stops with an exit-3 AuthError and sends nothing else', async () => {
    rig = await startRig({ limits: [] }, { clientSecret: 'definitely-not-the-secret' });
    const err = await rig.sender.send(brandSpecs(1)[0]!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ code: 'invalid_client', exitCode: 3 });
    expect((err as Error).message).toContain('check NEXUSCORE_CLIENT_ID / the secret; the secret is shown only once when created');
    const s = rig.sim.stats();
    expect(s.tokenRequests).toBe(1);
    expect(s.apiRequests).toBe(0);
  });

  it('an API key revoked mid-run stops with "revoked or rotated; create a new one"', async () => {
    rig = await startRig({ limits: [] }, { apiKey: true });
    const first = await rig.sender.send(brandSpecs(1)[0]!);
    expect(first.response?.status).toBe(200);
    rig.sim.revokeApiKey(rig.sim.apiKey);
    const err = await rig.sender.send(brandSpecs(1)[0]!).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'api_key_rejected', exitCode: 3 });
    expect((err as Error).message).toMatch(/the key was revoked or rotated; create a new one/);
    expect(rig.sim.stats().tokenRequests).toBe(0);
  });

  it('a second 401 right after a fresh token stops the run (exit 3), not an endless refresh loop', async () => {
    rig = await startRig({ limits: [] });
    await rig.auth.token();
    // Every token live at the moment of the replay is revoked too.
    const sim = rig.sim;
    sim.revokeAllTokens();
    const auth = rig.auth;
    const origRenew = auth.renew.bind(auth);
    auth.renew = async (t, signal, detail) => {
      const fresh = await origRenew(t, signal, detail);
      sim.revokeAllTokens();
      return fresh;
    };
    const err = await rig.sender.send(brandSpecs(1)[0]!).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'token_rejected', exitCode: 3 });
    expect(sim.stats().responses['401']).toBe(2);
  });

  it('missing scope: checkScopes names it before anything is sent; a 403 insufficient_scope classifies as stop_scope', async () => {
    rig = await startRig({ limits: [], scopes: ['tickets:read', 'brands:read'] });
    const err = await rig.auth.checkScopes(['tickets:write', 'brands:read'], undefined, 'zendesk-tickets').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'insufficient_scope', exitCode: 3 });
    expect((err as Error).message).toMatch(/tickets:write needed by zendesk-tickets.*ask a workspace admin/i);
    expect(rig.sim.stats().apiRequests).toBe(0);
    const res = await drive(rig, orgSpecs(1, 'scope'));
    expect(res.outcomes[0]).toMatchObject({ kind: 'stop_scope', reason: expect.stringContaining('insufficient_scope') });
  });

  it('an API key without the scope: the first 403 insufficient_scope is stop_scope', async () => {
    rig = await startRig({ limits: [], apiKeyScopes: ['brands:read'] }, { apiKey: true });
    await expect(rig.auth.checkScopes(['users:write'])).resolves.toEqual({ verified: false });
    const res = await drive(rig, orgSpecs(1, 'kscope'));
    expect(res.outcomes[0]?.kind).toBe('stop_scope');
  });
});
