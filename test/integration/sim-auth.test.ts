import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimClient, startSimulator, type SimClient, type Simulator } from '../../src/sim/index.js';

describe('sim: token endpoint', () => {
  let sim: Simulator;
  let c: SimClient;
  beforeAll(async () => {
    sim = await startSimulator({ limits: [], tokenRateLimitPerMin: 5, scopes: ['tickets:read', 'tickets:write', 'brands:read'] });
    c = createSimClient(sim);
  });
  afterAll(async () => {
    await c.close();
    await sim.close();
  });
  const creds = () => ({ grant_type: 'client_credentials', client_id: sim.clientId, client_secret: sim.clientSecret });

  it('issues a bearer token with the documented body', async () => {
    const r = await c.token(creds());
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'tickets:read tickets:write brands:read' });
    expect(typeof r.body.access_token).toBe('string');
    expect(r.headers['cache-control']).toBe('no-store');
    const brands = await c.send('/v1/brands', { auth: r.body.access_token });
    expect(brands.status).toBe(200);
  });

  it('grants a requested subset of scopes and refuses one outside them', async () => {
    const r = await c.token({ ...creds(), scope: 'tickets:read' });
    expect(r.status).toBe(200);
    expect(r.body.scope).toBe('tickets:read');
    const write = await c.send('/v1/tickets', { auth: r.body.access_token, body: { subject: 'x', requester_id: 'usr_x' } });
    expect(write.status).toBe(403);
    expect(write.body.error).toMatchObject({ code: 'insufficient_scope', scope: 'tickets:write' });
    expect(write.headers['www-authenticate']).toContain('insufficient_scope');

    const bad = await c.token({ ...creds(), scope: 'tickets:read users:write' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_scope');
  });

  it('answers the four RFC 6749 errors', async () => {
    const wrongSecret = await c.token({ ...creds(), client_secret: 'nope' });
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.body.error).toBe('invalid_client');
    const unknownClient = await c.token({ ...creds(), client_id: 'cli_unknown' });
    expect(unknownClient.body.error).toBe('invalid_client');

    const grant = await c.token({ ...creds(), grant_type: 'password' });
    expect(grant.status).toBe(400);
    expect(grant.body.error).toBe('unsupported_grant_type');

    const missing = await c.token({ client_id: sim.clientId, client_secret: sim.clientSecret });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toBe('invalid_request');
    const json = await c.send('/oauth/token', { body: creds() });
    expect(json.status).toBe(400);
    expect(json.body.error).toBe('invalid_request');
  });

  it('limits token requests per client and does not count refused ones', async () => {
    const other = sim.createClient({ scopes: ['brands:read'] });
    const form = { grant_type: 'client_credentials', client_id: other.clientId, client_secret: other.clientSecret };
    await c.token({ ...form, client_secret: 'wrong' }); // refused: does not count
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await c.token(form)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const limited = await c.token(form);
    expect(limited.body.error).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(59);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    // Another client has its own budget.
    expect((await c.token(creds())).status).toBe(200);
    expect(sim.stats().tokenRateLimited).toBe(2);
  });
});

describe('sim: bearer checks, API keys, revocation', () => {
  let sim: Simulator;
  let c: SimClient;
  beforeAll(async () => {
    sim = await startSimulator({ limits: [], tokenTtlS: 1 });
    c = createSimClient(sim);
  });
  afterAll(async () => {
    await c.close();
    await sim.close();
  });
  const token = async () =>
    (await c.token({ grant_type: 'client_credentials', client_id: sim.clientId, client_secret: sim.clientSecret })).body.access_token as string;

  it('refuses a missing or unknown credential with 401 invalid_token and WWW-Authenticate', async () => {
    for (const auth of [undefined, 'nxt_bogus', 'nxk_bogus0000000000000000000000000000000']) {
      const r = await c.send('/v1/brands', { auth });
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('invalid_token');
      expect(r.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
    }
    // 401s carry no workspace: they do not count against the quota.
    expect(sim.stats().counted).toBe(0);
  });

  it('expires tokens after the TTL (token_expired)', async () => {
    const t = await token();
    expect((await c.send('/v1/brands', { auth: t })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    const r = await c.send('/v1/brands', { auth: t });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('token_expired');
    expect(r.headers['www-authenticate']).toContain('invalid_token');
  });

  it('revokes every live token now, but not tokens issued afterwards', async () => {
    const before = await token();
    sim.revokeAllTokens();
    const r = await c.send('/v1/brands', { auth: before });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('token_revoked');
    const after = await token();
    expect((await c.send('/v1/brands', { auth: after })).status).toBe(200);
    // API keys are not tokens.
    expect((await c.send('/v1/brands', { auth: sim.apiKey })).status).toBe(200);
  });

  it('revokes at a given time', async () => {
    const t = await token();
    sim.revokeAllTokens(Date.now() + 300);
    expect((await c.send('/v1/brands', { auth: t })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 400));
    const r = await c.send('/v1/brands', { auth: t });
    expect(r.body.error?.code).toBe('token_revoked');
  });

  it('revokes over the control endpoint too', async () => {
    const t = await token();
    const res = await c.send('/__sim/revoke', { method: 'POST', body: {} });
    expect(res.status).toBe(200);
    expect((await c.send('/v1/brands', { auth: t })).body.error.code).toBe('token_revoked');
  });

  it('API keys carry scopes, and a revoked key is token_revoked', async () => {
    const key = sim.createApiKey({ scopes: ['brands:read'] });
    expect(key).toMatch(/^nxk_[A-Za-z0-9_-]{32,}$/);
    expect((await c.send('/v1/brands', { auth: key })).status).toBe(200);
    const denied = await c.send('/v1/users', { auth: key, body: { name: 'Ann' } });
    expect(denied.status).toBe(403);
    expect(denied.body.error).toMatchObject({ code: 'insufficient_scope', scope: 'users:write' });
    sim.revokeApiKey(key);
    const r = await c.send('/v1/brands', { auth: key });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('token_revoked');
  });

  it('enforces an API key brand restriction', async () => {
    const key = sim.createApiKey({ scopes: ['tickets:read', 'tickets:write', 'users:write', 'brands:read'], brands: ['brd_acme'] });
    const brands = await c.send('/v1/brands', { auth: key });
    expect(brands.body.brands.map((b: { id: string }) => b.id)).toEqual(['brd_acme']);
    const user = await c.send('/v1/users', { auth: key, body: { name: 'Ann' } });
    const ok = await c.send('/v1/tickets', { auth: key, body: { subject: 'a', requester_id: user.body.id, brand_id: 'brd_acme' } });
    expect(ok.status).toBe(201);
    const forbidden = await c.send('/v1/tickets', { auth: key, body: { subject: 'b', requester_id: user.body.id, brand_id: 'brd_globex' } });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('brand_forbidden');
    // A ticket of another brand, made with the unrestricted key, is out of reach.
    const other = await c.send('/v1/tickets', { auth: sim.apiKey, body: { subject: 'c', requester_id: user.body.id, brand_id: 'brd_globex' } });
    expect((await c.send(`/v1/tickets/${other.body.id}`, { auth: key })).body.error.code).toBe('brand_forbidden');
    const patch = await c.send(`/v1/tickets/${ok.body.id}`, { method: 'PATCH', auth: key, body: { brand_id: 'brd_initech' } });
    expect(patch.body.error.code).toBe('brand_forbidden');
    expect(sim.records('tickets').map((t) => t.brand_id)).toEqual(['brd_acme', 'brd_globex']);
  });

  it('is HTTPS only: plain HTTP gets no API answer', async () => {
    const plain = sim.url.replace('https://', 'http://');
    const res = await fetch(`${plain}/v1/brands`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(res).not.toBe(200);
  });
});
