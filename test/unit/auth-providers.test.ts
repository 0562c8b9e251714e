import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { AuthError, UsageError } from '../../src/errors.js';
import { createApiKeyProvider } from '../../src/auth/api-key.js';
import { createClientCredentialsProvider, refreshAheadMs } from '../../src/auth/client-credentials.js';
import { resolveCredentials } from '../../src/auth/credentials.js';
import { NetworkError, type HttpRequest, type HttpResponse } from '../../src/http/client.js';

function clockAt(start = 1_000_000) {
  let t = start;
  const sleeps: number[] = [];
  const clock: Clock & { add(ms: number): void; sleeps: number[] } = {
    now: () => t,
    // Sleeping advances the fake time at once: backoff maths without waiting.
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      sleeps.push(ms);
      t += ms;
    },
    add: (ms) => (t += ms),
    sleeps,
  };
  return clock;
}

type Reply = Partial<HttpResponse> | Error;
/** A token endpoint scripted reply by reply; counts requests. */
function fakeHttp(replies: Reply[] | ((n: number, req: HttpRequest) => Reply)) {
  const seen: HttpRequest[] = [];
  let gate: Promise<void> = Promise.resolve();
  return {
    seen,
    hold() {
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      return () => open();
    },
    async request(req: HttpRequest): Promise<HttpResponse> {
      seen.push(req);
      const n = seen.length;
      await gate;
      const r = typeof replies === 'function' ? replies(n, req) : replies[Math.min(n, replies.length) - 1]!;
      if (r instanceof Error) throw r;
      return { status: 200, headers: {}, body: '', latencyMs: 1, ...r };
    },
  };
}
const ok = (token: string, ttlS = 3600, scope = 'tickets:read tickets:write') => ({ status: 200, body: { access_token: token, token_type: 'Bearer', expires_in: ttlS, scope } });

describe('client-credentials provider', () => {
  it('fetches once, caches in memory, sends the form the vendor documents', async () => {
    const http = fakeHttp([ok('tok-1')]);
    const p = createClientCredentialsProvider({ http, clientId: 'cid', clientSecret: 'sec-123456', clock: clockAt() });
    expect(await p.token()).toBe('tok-1');
    expect(await p.token()).toBe('tok-1');
    expect(http.seen).toHaveLength(1);
    expect(http.seen[0]).toMatchObject({ method: 'POST', path: '/oauth/token', form: { grant_type: 'client_credentials', client_id: 'cid', client_secret: 'sec-123456' } });
    expect([...p.grantedScopes()!]).toEqual(['tickets:read', 'tickets:write']);
  });

  it('refreshes ahead of expiry: when less than min(60 s, lifetime/10) remains, in the background', async () => {
    expect(refreshAheadMs(3_600_000)).toBe(60_000);
    expect(refreshAheadMs(2000)).toBe(200);
    const clock = clockAt();
    let n = 0;
    const http = fakeHttp(() => ok(`tok-${++n}`, 2));
    const p = createClientCredentialsProvider({ http, clientId: 'c', clientSecret: 'secret-x', clock });
    expect(await p.token()).toBe('tok-1');
    clock.add(1799); // 201 ms left: not yet
    expect(await p.token()).toBe('tok-1');
    expect(http.seen).toHaveLength(1);
    clock.add(2); // 199 ms left: refresh starts, the still-good token is used meanwhile
    expect(await p.token()).toBe('tok-1');
    await new Promise((r) => setImmediate(r));
    expect(http.seen).toHaveLength(2);
    expect(await p.token()).toBe('tok-2');
    expect(p.stats()).toMatchObject({ tokensIssued: 2, refreshes: 1 });
  });

  it('single-flight: 50 concurrent renewals of the same rejected token make one token request', async () => {
    let n = 0;
    const http = fakeHttp(() => ok(`tok-${++n}`));
    const p = createClientCredentialsProvider({ http, clientId: 'c', clientSecret: 'secret-x', clock: clockAt() });
    const first = await p.token();
    const release = http.hold();
    const renewed = Promise.all(Array.from({ length: 50 }, () => p.renew(first)));
    release();
    expect(new Set(await renewed)).toEqual(new Set(['tok-2']));
    expect(http.seen).toHaveLength(2);
  });

  it('invalidate forgets a token only while it is current (a late 401 keeps the fresh token)', async () => {
    let n = 0;
    const http = fakeHttp(() => ok(`tok-${++n}`));
    const p = createClientCredentialsProvider({ http, clientId: 'c', clientSecret: 'secret-x', clock: clockAt() });
    const t1 = await p.token();
    expect(await p.renew(t1)).toBe('tok-2');
    expect(p.invalidate(t1)).toBe(false);
    expect(await p.renew(t1)).toBe('tok-2');
    expect(http.seen).toHaveLength(2);
    expect(p.invalidate('tok-2')).toBe(true);
  });

  it('invalid_client stops at once with exit 3 and the documented hint', async () => {
    const http = fakeHttp([{ status: 401, body: { error: 'invalid_client' } }]);
    const p = createClientCredentialsProvider({ http, clientId: 'c', clientSecret: 'secret-x', clock: clockAt() });
    const err = await p.token().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ code: 'invalid_client', exitCode: 3 });
    expect((err as Error).message).toContain('check NEXUSCORE_CLIENT_ID / the secret; the secret is shown only once when created');
    expect(http.seen).toHaveLength(1);
  });

  it('429, 5xx and network errors back off with jitter (Retry-After wins) and retry, bounded', async () => {
    const clock = clockAt();
    const http = fakeHttp([
      { status: 503, body: '' },
      new NetworkError('reset', 'reset', 'POST', '/oauth/token', 'ECONNRESET'),
      { status: 429, headers: { 'retry-after': '7' }, body: { error: 'rate_limited' } },
      ok('tok-9'),
    ]);
    const p = createClientCredentialsProvider({ http, clientId: 'c', clientSecret: 'secret-x', clock, random: () => 1 });
    expect(await p.token()).toBe('tok-9');
    expect(clock.sleeps).toEqual([500, 1000, 7000]);

    const always = fakeHttp(() => ({ status: 502, body: '' }));
    const q = createClientCredentialsProvider({ http: always, clientId: 'c', clientSecret: 'secret-x', clock: clockAt(), maxAttempts: 4 });
    await expect(q.token()).rejects.toMatchObject({ code: 'token_unavailable', exitCode: 3, message: expect.stringMatching(/after 4 tries \(last: 502\)/) });
    expect(always.seen).toHaveLength(4);
  });

  it('a backoff wait is abortable', async () => {
    const clock: Clock = { now: () => 0, sleep: (_ms, signal) => new Promise((_r, rej) => signal?.addEventListener('abort', () => rej(signal.reason))) };
    const http = fakeHttp(() => ({ status: 503, body: '' }));
    const p = createClientCredentialsProvider({ http, clientId: 'c', clientSecret: 'secret-x', clock });
    const ctl = new AbortController();
    const pending = p.token(ctl.signal);
    setTimeout(() => ctl.abort(new Error('interrupted')), 10);
    await expect(pending).rejects.toThrow('interrupted');
    p.close();
  });

  it('checkScopes names the missing scopes and says to ask a workspace admin', async () => {
    const http = fakeHttp([ok('tok-1', 3600, 'tickets:read')]);
    const p = createClientCredentialsProvider({ http, clientId: 'c', clientSecret: 'secret-x', clock: clockAt() });
    await expect(p.checkScopes(['tickets:read'])).resolves.toEqual({ verified: true });
    const err = await p.checkScopes(['tickets:write', 'users:write', 'tickets:read'], undefined, 'zendesk-tickets').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'insufficient_scope', exitCode: 3 });
    expect((err as Error).message).toMatch(/tickets:write, users:write needed by zendesk-tickets \(granted: tickets:read\).*ask a workspace admin/i);
  });
});

describe('API-key provider', () => {
  it('sends the key, never refreshes, and a 401 stops with "revoked or rotated; create a new one"', async () => {
    const p = createApiKeyProvider({ apiKey: 'nxk_abcdefghijklmnopqrstuvwxyz0123456789' });
    expect(await p.token()).toBe('nxk_abcdefghijklmnopqrstuvwxyz0123456789');
    expect(p.invalidate('nxk_abcdefghijklmnopqrstuvwxyz0123456789')).toBe(false);
    const err = await p.renew('x', undefined, '401 token_revoked').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'api_key_rejected', exitCode: 3 });
    expect((err as Error).message).toMatch(/the key was revoked or rotated; create a new one/);
    await expect(p.checkScopes(['tickets:write'])).resolves.toEqual({ verified: false });
  });
});

describe('credentials from env and files only', () => {
  const files: Record<string, string> = { '/s/secret': 'file-secret-1\n', '/s/key': ' nxk_fromfile_aaaaaaaaaaaaaaaaaaaaaaaa \n', '/s/empty': '\n' };
  const readFile = (p: string) => {
    const v = files[p];
    if (v === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return v;
  };
  it('client id + secret from env, or the secret from --client-secret-file', () => {
    expect(resolveCredentials({ env: { NEXUSCORE_CLIENT_ID: 'id', NEXUSCORE_CLIENT_SECRET: 'sec-env' } })).toEqual({ mode: 'client_credentials', clientId: 'id', clientSecret: 'sec-env' });
    expect(resolveCredentials({ env: { NEXUSCORE_CLIENT_ID: 'id' }, clientSecretFile: '/s/secret', readFile })).toMatchObject({ clientSecret: 'file-secret-1' });
  });
  it('API key from env or --api-key-file', () => {
    expect(resolveCredentials({ env: { NEXUSCORE_API_KEY: 'nxk_env' } })).toEqual({ mode: 'api_key', apiKey: 'nxk_env' });
    expect(resolveCredentials({ env: {}, apiKeyFile: '/s/key', readFile })).toEqual({ mode: 'api_key', apiKey: 'nxk_fromfile_aaaaaaaaaaaaaaaaaaaaaaaa' });
  });
  it.each([
    [{ env: {} }, /No NexusCore credentials/],
    [{ env: { NEXUSCORE_CLIENT_ID: 'id', NEXUSCORE_CLIENT_SECRET: 's', NEXUSCORE_API_KEY: 'k' } }, /Unset one of them/],
    [{ env: { NEXUSCORE_CLIENT_SECRET: 's' } }, /NEXUSCORE_CLIENT_ID is not/],
    [{ env: { NEXUSCORE_CLIENT_ID: 'id' } }, /no secret/],
    [{ env: { NEXUSCORE_CLIENT_ID: 'id', NEXUSCORE_CLIENT_SECRET: 's' }, clientSecretFile: '/s/secret' }, /Keep one/],
    [{ env: {}, apiKeyFile: '/s/missing' }, /Cannot read --api-key-file `\/s\/missing`: ENOENT/],
    [{ env: {}, apiKeyFile: '/s/empty' }, /is empty/],
  ])('a clear usage error: %o', (src, msg) => {
    expect(() => resolveCredentials({ readFile, ...src })).toThrow(UsageError);
    expect(() => resolveCredentials({ readFile, ...src })).toThrow(msg);
  });
});
