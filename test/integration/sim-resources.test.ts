import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimClient, startSimulator, type SimClient, type Simulator } from '../../src/sim/index.js';

describe('sim: resources', () => {
  let sim: Simulator;
  let c: SimClient;
  let key: string;
  beforeAll(async () => {
    sim = await startSimulator({ limits: [] });
    c = createSimClient(sim);
    key = sim.apiKey;
  });
  afterAll(async () => {
    await c.close();
    await sim.close();
  });
  const post = (path: string, body: unknown, headers?: Record<string, string>) => c.send(path, { auth: key, body, headers });

  it('lists brands', async () => {
    const r = await c.send('/v1/brands', { auth: key });
    expect(r.status).toBe(200);
    expect(r.body.brands).toHaveLength(3);
    expect(Object.keys(r.body.brands[0]).sort()).toEqual(['id', 'name', 'subdomain']);
  });

  it('creates organizations, users and tickets with references, and stores defaults', async () => {
    const org = await post('/v1/organizations', { external_id: 'o1', name: 'Acme', domain_names: ['acme.test'], tags: ['vip'] });
    expect(org.status).toBe(201);
    expect(org.body).toMatchObject({ external_id: 'o1', name: 'Acme', details: null, notes: null });
    const user = await post('/v1/users', { external_id: 'u1', name: 'Ann', email: 'ann@acme.test', role: 'agent', organization_id: org.body.id });
    expect(user.status).toBe(201);
    expect(user.body.organization_id).toBe(org.body.id);
    const ticket = await post('/v1/tickets', {
      external_id: 't1',
      subject: 'Printer on fire',
      description: 'It is on fire',
      status: 'open',
      priority: 'urgent',
      type: 'incident',
      requester_id: user.body.id,
      assignee_id: user.body.id,
      organization_id: org.body.id,
      brand_id: 'brd_acme',
      tags: ['fire'],
      custom_fields: [{ id: 7, value: 'x' }],
      created_at: '2020-01-02T03:04:05Z',
      updated_at: '2020-01-03T03:04:05Z',
      comments: [{ author_id: user.body.id, body: 'Help', public: false, created_at: '2020-01-02T03:04:05Z' }],
    });
    expect(ticket.status).toBe(201);
    expect(ticket.body).toMatchObject({ subject: 'Printer on fire', status: 'open', priority: 'urgent', created_at: '2020-01-02T03:04:05Z' });
    const minimal = await post('/v1/tickets', { subject: 'Hi', requester_id: user.body.id });
    expect(minimal.body).toMatchObject({ status: 'new', priority: null, tags: [], comments: [], external_id: null });

    const got = await c.send(`/v1/tickets/${ticket.body.id}`, { auth: key });
    expect(got.status).toBe(200);
    expect(got.body).toEqual(ticket.body);
    expect(sim.records('tickets').map((t) => t.id)).toEqual([ticket.body.id, minimal.body.id]);
    expect(sim.stats().records).toEqual({ tickets: 2, users: 1, organizations: 1 });
  });

  it('answers 404 for an unknown id and route, 405 for a wrong method', async () => {
    expect((await c.send('/v1/tickets/tkt_nope', { auth: key })).body.error.code).toBe('not_found');
    expect((await c.send('/v1/widgets', { auth: key })).status).toBe(404);
    const r = await c.send('/v1/brands', { auth: key, method: 'POST', body: {} });
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET');
  });

  it('validates required fields, types, enums and unknown fields (422 validation_failed)', async () => {
    const user = (await post('/v1/users', { name: 'Bob' })).body;
    const cases: [string, unknown, Record<string, string>][] = [
      ['/v1/organizations', {}, { name: 'required' }],
      ['/v1/organizations', { name: 'X', domain_names: 'x.test' }, { domain_names: 'must be an array of strings' }],
      ['/v1/users', { name: 'C', role: 'boss' }, { role: 'must be one of end-user, agent, admin' }],
      ['/v1/users', { name: 'C', email: 'not-an-email' }, { email: 'must be an email address' }],
      ['/v1/tickets', { requester_id: user.id }, { subject: 'required' }],
      ['/v1/tickets', { subject: 'S' }, { requester_id: 'required' }],
      ['/v1/tickets', { subject: 'S', requester_id: user.id, status: 'done' }, { status: 'must be one of new, open, pending, hold, solved, closed' }],
      ['/v1/tickets', { subject: 'S', requester_id: user.id, priority: 'meh' }, { priority: 'must be one of low, normal, high, urgent' }],
      ['/v1/tickets', { subject: 7, requester_id: user.id }, { subject: 'must be a string' }],
      ['/v1/tickets', { subject: 'S', requester_id: user.id, tags: [1] }, { 'tags[0]': 'must be a string' }],
      ['/v1/tickets', { subject: 'S', requester_id: user.id, created_at: 'yesterday' }, { created_at: 'must be an RFC 3339 date-time such as 2024-05-01T12:00:00Z' }],
      ['/v1/tickets', { subject: 'S', requester_id: user.id, comments: [{ body: 'x' }] }, { 'comments[0].author_id': 'required' }],
      ['/v1/tickets', { subject: 'S', requester_id: user.id, via: 'email' }, { via: 'unknown field' }],
    ];
    for (const [path, body, fields] of cases) {
      const r = await post(path, body);
      expect(r.status, JSON.stringify(body)).toBe(422);
      expect(r.body.error.code).toBe('validation_failed');
      expect(r.body.error.fields).toEqual(fields);
    }
    const notObject = await post('/v1/tickets', [1, 2]);
    expect(notObject.status).toBe(422);
    const notJson = await c.send('/v1/tickets', { auth: key, body: '{"subject":', headers: { 'content-type': 'application/json' } });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.code).toBe('invalid_json');
  });

  it('checks references against ids this workspace issued', async () => {
    const user = (await post('/v1/users', { name: 'Cy' })).body;
    const cases: [string, unknown, string][] = [
      ['/v1/tickets', { subject: 'S', requester_id: 'usr_999999' }, 'requester_id'],
      ['/v1/tickets', { subject: 'S', requester_id: user.id, assignee_id: 'usr_zzz' }, 'assignee_id'],
      ['/v1/tickets', { subject: 'S', requester_id: user.id, organization_id: 'org_zzz' }, 'organization_id'],
      ['/v1/tickets', { subject: 'S', requester_id: user.id, brand_id: 'brd_nope' }, 'brand_id'],
      ['/v1/tickets', { subject: 'S', requester_id: user.id, comments: [{ author_id: 'usr_zzz', body: 'b' }] }, 'comments[0].author_id'],
      ['/v1/users', { name: 'D', organization_id: 'org_zzz' }, 'organization_id'],
      // An id of the wrong kind is no better than an unknown one.
      ['/v1/tickets', { subject: 'S', requester_id: sim.records('organizations')[0]!.id }, 'requester_id'],
    ];
    for (const [path, body, field] of cases) {
      const r = await post(path, body);
      expect(r.status, field).toBe(422);
      expect(Object.keys(r.body.error.fields)).toEqual([field]);
    }
  });

  it('enforces external_id uniqueness with 409 duplicate_external_id and existing_id', async () => {
    const first = await post('/v1/organizations', { external_id: 'dup-1', name: 'One' });
    const again = await post('/v1/organizations', { external_id: 'dup-1', name: 'Two' });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'duplicate_external_id', existing_id: first.body.id });
    expect(sim.stats().conflicts.duplicate_external_id).toBe(1);
    expect(sim.stats().externalIds.organizations['dup-1']).toBe(1);
  });

  it('patches a ticket and looks records up by external_id for every resource', async () => {
    const user = (await post('/v1/users', { name: 'Eve', external_id: 'u-eve' })).body;
    const t = (await post('/v1/tickets', { subject: 'Old', requester_id: user.id, external_id: 't-eve' })).body;
    const p = await c.send(`/v1/tickets/${t.id}`, { method: 'PATCH', auth: key, body: { subject: 'New', status: 'solved' } });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ id: t.id, subject: 'New', status: 'solved', requester_id: user.id });
    const badPatch = await c.send(`/v1/tickets/${t.id}`, { method: 'PATCH', auth: key, body: { status: 'gone' } });
    expect(badPatch.status).toBe(422);
    expect((await c.send('/v1/tickets/tkt_none', { method: 'PATCH', auth: key, body: {} })).status).toBe(404);

    const tickets = await c.send('/v1/tickets?external_id=t-eve', { auth: key });
    expect(tickets.body.tickets.map((x: { subject: string }) => x.subject)).toEqual(['New']);
    const users = await c.send('/v1/users?external_id=u-eve', { auth: key });
    expect(users.body.users.map((x: { id: string }) => x.id)).toEqual([user.id]);
    const orgs = await c.send('/v1/organizations?external_id=o1', { auth: key });
    expect(orgs.body.organizations).toHaveLength(1);
    const none = await c.send('/v1/tickets?external_id=never', { auth: key });
    expect(none.body).toEqual({ tickets: [] });
  });

  it('bulk imports: per-record results in order, one request against the quota', async () => {
    const before = sim.stats().counted;
    const user = (await post('/v1/users', { name: 'Flo' })).body;
    const r = await post('/v1/imports/tickets', {
      tickets: [
        { subject: 'A', requester_id: user.id, external_id: 'imp-1' },
        { subject: 'B', requester_id: 'usr_missing', external_id: 'imp-2' },
        { subject: 'C', requester_id: user.id, external_id: 'imp-1' },
        { subject: 'D', requester_id: user.id, external_id: 'imp-4', brand_id: 'brd_globex' },
      ],
    });
    expect(r.status).toBe(200);
    const results = r.body.results;
    expect(results.map((x: { index: number; status: number }) => [x.index, x.status])).toEqual([[0, 201], [1, 422], [2, 409], [3, 201]]);
    expect(results[1].error.code).toBe('validation_failed');
    expect(results[1].error.fields).toHaveProperty('requester_id');
    expect(results[2].error).toMatchObject({ code: 'duplicate_external_id', existing_id: results[0].id });
    expect(sim.stats().counted - before).toBe(2); // the user and the one import
    expect(sim.stats().imports).toMatchObject({ requests: 1, records: 4 });

    const tooMany = await post('/v1/imports/users', { users: Array.from({ length: 101 }, (_, i) => ({ name: `U${i}` })) });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.error.fields).toHaveProperty('users');
    const wrongKey = await post('/v1/imports/users', { tickets: [] });
    expect(wrongKey.status).toBe(422);
    const orgs = await post('/v1/imports/organizations', { organizations: [{ name: 'P' }, { name: '' }] });
    expect(orgs.body.results.map((x: { status: number }) => x.status)).toEqual([201, 422]);
  });

  it('refuses a body over 10 MB with 413', async () => {
    const huge = JSON.stringify({ users: [{ name: 'x'.repeat(10 * 1024 * 1024) }] });
    const r = await c.send('/v1/imports/users', { auth: key, body: huge, headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(413);
  });
});

describe('sim: uniqueness off (older workspaces)', () => {
  it('stores duplicates and reports them in stats', async () => {
    const sim = await startSimulator({ limits: [], uniqueExternalId: false });
    const c = createSimClient(sim);
    try {
      const a = await c.send('/v1/organizations', { auth: sim.apiKey, body: { external_id: 'same', name: 'A' } });
      const b = await c.send('/v1/organizations', { auth: sim.apiKey, body: { external_id: 'same', name: 'B' } });
      expect([a.status, b.status]).toEqual([201, 201]);
      expect(a.body.id).not.toBe(b.body.id);
      const found = await c.send('/v1/organizations?external_id=same', { auth: sim.apiKey });
      expect(found.body.organizations).toHaveLength(2);
      const s = sim.stats();
      expect(s.externalIds.organizations).toEqual({ same: 2 });
      expect(s.duplicateExternalIds.organizations).toBe(1);
    } finally {
      await c.close();
      await sim.close();
    }
  });
});
