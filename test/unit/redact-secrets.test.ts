/**
 * Secrets and tokens appear nowhere: drives the auth failures and error paths
 * over real sockets (the simulator) and checks every error message, every
 * thrown error's JSON and every event for the client secret, the API key and
 * every access token the simulator issued.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { createApiKeyProvider } from '../../src/auth/api-key.js';
import { createClientCredentialsProvider } from '../../src/auth/client-credentials.js';
import type { AuthEvent } from '../../src/auth/provider.js';
import { REDACTED, redact, redactedJson, registerSecret } from '../../src/auth/redact.js';
import { createSender, type SenderEvent } from '../../src/engine/sender.js';
import { createHttpClient } from '../../src/http/client.js';
import { createGate } from '../../src/limits/gate.js';
import { startSimulator } from '../../src/sim/index.js';

describe('redact()', () => {
  it('masks registered secrets and anything that looks like a credential', () => {
    registerSecret('s3cr3t-value-xyz');
    const text = [
      'secret s3cr3t-value-xyz here',
      'Authorization: Bearer abc.def-ghi_123456',
      'key nxk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      'token nxt_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBB',
      'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig',
      'grant_type=client_credentials&client_secret=plain123&x=1',
      '{"access_token":"zzz-token","client_secret":"qqq"}',
    ].join('\n');
    const out = redact(text);
    for (const leaked of ['s3cr3t-value-xyz', 'abc.def-ghi_123456', 'AAAAAAAAAAAAAAAAAAAA', 'BBBBBBBBBBBBBBBBBBBB', 'eyJzdWIiOiIxIn0', 'plain123', 'zzz-token', '"qqq"']) {
      expect(out).not.toContain(leaked);
    }
    expect(out).toContain(REDACTED);
    expect(out).toContain('grant_type=client_credentials');
  });

  it('redactedJson keeps an error\'s fields and cause chain, masked', () => {
    registerSecret('inner-secret-123');
    const e = new Error('outer', { cause: new Error('saw inner-secret-123') });
    const json = redactedJson(e);
    expect(json).toContain('outer');
    expect(json).toContain('cause');
    expect(json).not.toContain('inner-secret-123');
  });
});

describe('no secret or token in any error, error JSON or event (simulator)', () => {
  it('drives auth failures and error paths', async () => {
    const sim = await startSimulator({ limits: [{ count: 3, windowMs: 1000 }], tokenTtlS: 1, faults: { hang: 0 } });
    const http = createHttpClient({ baseUrl: sim.url, caFile: sim.caFile, concurrency: 4, timeoutMs: 300 });
    const events: (SenderEvent | AuthEvent)[] = [];
    const errors: unknown[] = [];
    const catchAll = async (p: Promise<unknown>) => p.catch((e: unknown) => void errors.push(e));
    const gate = createGate({ windows: [], concurrency: 4, clock: systemClock });
    const issued: string[] = [];

    // 1. A good client: tokens issued, refreshed, revoked; sends and a hung request.
    const good = createClientCredentialsProvider({ http, clientId: sim.clientId, clientSecret: sim.clientSecret, clock: systemClock, onEvent: (e) => events.push(e) });
    const sender = createSender({ http, auth: good, gate, clock: systemClock, onEvent: (e) => events.push(e) });
    issued.push(await good.token());
    sim.revokeAllTokens();
    await sender.send({ method: 'GET', path: '/v1/brands' });
    issued.push(await good.token());
    sim.setFaults({ hang: 1 });
    const hung = await sender.send({ method: 'POST', path: '/v1/organizations', body: { name: 'x' } });
    if (hung.error) errors.push(hung.error);
    sim.setFaults({ hang: 0 });
    // A second 401 after a fresh token.
    const origRenew = good.renew.bind(good);
    good.renew = async (t, s, d) => {
      const fresh = await origRenew(t, s, d);
      issued.push(fresh);
      sim.revokeAllTokens();
      return fresh;
    };
    sim.revokeAllTokens();
    await catchAll(sender.send({ method: 'GET', path: '/v1/brands' }));

    // 2. A wrong secret, and a client without the scope.
    const wrongSecret = 'wrong-secret-ABCDEFGH123';
    const bad = createClientCredentialsProvider({ http, clientId: sim.clientId, clientSecret: wrongSecret, clock: systemClock, onEvent: (e) => events.push(e) });
    await catchAll(bad.token());
    const narrow = sim.createClient({ scopes: ['brands:read'] });
    const narrowAuth = createClientCredentialsProvider({ http, clientId: narrow.clientId, clientSecret: narrow.clientSecret, clock: systemClock });
    await catchAll(narrowAuth.checkScopes(['tickets:write']));
    issued.push(await narrowAuth.token());

    // 3. An API key, revoked.
    const keyAuth = createApiKeyProvider({ apiKey: sim.apiKey });
    const keySender = createSender({ http, auth: keyAuth, gate, clock: systemClock, onEvent: (e) => events.push(e) });
    sim.revokeApiKey(sim.apiKey);
    await catchAll(keySender.send({ method: 'GET', path: '/v1/brands' }));

    expect(errors.length).toBeGreaterThanOrEqual(5);
    const secrets = [sim.clientSecret, sim.apiKey, wrongSecret, narrow.clientSecret, ...issued];
    expect(new Set(issued).size).toBeGreaterThanOrEqual(3);
    const texts = [
      ...errors.map((e) => String((e as Error).message)),
      ...errors.map((e) => String((e as Error).stack)),
      ...errors.map((e) => JSON.stringify(e)),
      ...errors.map((e) => JSON.stringify(e, Object.getOwnPropertyNames(e))),
      ...events.map((e) => JSON.stringify(e)),
    ];
    for (const text of texts) for (const s of secrets) expect(text).not.toContain(s);
    // The checks above would catch a leak: the messages do talk about the credentials.
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(expect.arrayContaining(['token_rejected', 'invalid_client', 'insufficient_scope', 'api_key_rejected']));

    gate.close();
    await http.close();
    await sim.close();
  });
});
