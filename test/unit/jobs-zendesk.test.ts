import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tickets, { EXTRA_FIELD_ID } from '../../jobs/zendesk-tickets.js';
import users from '../../jobs/zendesk-users.js';
import organizations from '../../jobs/zendesk-organizations.js';
import brands from '../../jobs/zendesk-brands.js';
import { ItemRejectedError, MissingReferenceError, type BrandResolver, type MapContext, type Refs } from '../../src/index.js';
import type { JobDefinition } from '../../src/types.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/zendesk');
const fixture = (name: string) => JSON.parse(readFileSync(path.join(fixtures, name), 'utf8')) as Record<string, any>;

/** Refs over a fixed id map; anything else is absent (or in the given state). */
function refs(map: Record<string, string>, states: Record<string, 'pending' | 'failed'> = {}): Refs {
  return {
    id(job, sourceId, field) {
      if (sourceId === null || sourceId === undefined) return null;
      const key = `${job}:${sourceId}`;
      if (map[key]) return map[key]!;
      throw new MissingReferenceError(job, String(sourceId), states[key] ?? 'absent', field);
    },
  };
}

const noBrands: BrandResolver = { mode: 'none', resolve: () => null };
const bySubdomain: BrandResolver = {
  mode: 'subdomain',
  resolve(id) {
    if (id === null || id === undefined) return null;
    if (id === 360000178752) return 'nx-brand-1';
    throw new ItemRejectedError(`brand_id ${id} has no NexusCore brand`);
  },
};
const create = (brandsResolver: BrandResolver = noBrands): MapContext => ({ mode: 'create', brands: brandsResolver });

function parsed<R>(job: JobDefinition<R>, raw: unknown): R {
  const r = job.parse(raw);
  if (!r.ok) throw new Error(r.reason);
  return r.record;
}

const allRefs = refs({
  'zendesk-users:20978392': 'u-req',
  'zendesk-users:76872': 'u-sub',
  'zendesk-users:235323': 'u-agent',
  'zendesk-organizations:509974': 'o-1',
});

describe('zendesk-tickets', () => {
  it('maps every handled field of a ticket in Zendesk’s documented shape', () => {
    const raw = fixture('ticket.json');
    const t = parsed(tickets, raw);
    expect(tickets.key(t)).toBe('35436');
    const req = tickets.map(t, allRefs, create(bySubdomain));
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/tickets');
    const body = req.body as Record<string, any>;
    expect(body).toMatchObject({
      external_id: '35436',
      subject: 'Help, my printer is on fire!',
      description: 'The fire is very colorful.',
      status: 'open',
      priority: 'high',
      type: 'incident',
      requester_id: 'u-req',
      assignee_id: 'u-agent',
      organization_id: 'o-1',
      brand_id: 'nx-brand-1',
      tags: ['enterprise', 'other_tag'],
      created_at: '2009-07-20T22:55:29Z',
      updated_at: '2011-05-05T10:38:52Z',
    });
    expect(body.comments).toEqual([
      { author_id: 'u-req', body: 'The fire is very colorful.', public: true, created_at: '2009-07-20T22:55:29Z' },
      { author_id: 'u-agent', body: 'We are on it — ünïcødé ✓', public: false, created_at: '2009-07-21T08:00:00Z' },
    ]);
    expect(body.custom_fields.slice(0, 2)).toEqual([
      { id: 27642, value: '745' },
      { id: 27648, value: 'yes' },
    ]);
    const extra = body.custom_fields.find((f: { id: unknown }) => f.id === EXTRA_FIELD_ID);
    const kept = JSON.parse(extra.value);
    expect(kept).toMatchObject({
      via: raw.via,
      satisfaction_rating: raw.satisfaction_rating,
      submitter_id: 'u-sub',
      zendesk_submitter_id: 76872,
      group_id: 98738,
      collaborator_ids: [35334, 234],
      follower_ids: [35334, 234],
      problem_id: 9873764,
      recipient: 'support@company.com',
      ticket_form_id: 123,
      sharing_agreement_ids: [84432],
      external_id: 'ahg35h3jh',
    });
    expect(kept.comments).toEqual([
      { index: 0, id: 1274, via: raw.comments[0].via },
      { index: 1, id: 1275, via: raw.comments[1].via, attachments: [{ file_name: 'crash.log', content_url: 'https://company.zendesk.com/attachments/crash.log', content_type: 'text/plain', size: 2532 }] },
    ]);
    expect(kept.brand_id).toBeUndefined();
    expect(JSON.stringify(body)).not.toContain('"fields"');
  });

  it('nulls: no assignee, organization, priority, type or brand', () => {
    const t = parsed(tickets, { id: 9, status: 'new', subject: 's', requester_id: 20978392, assignee_id: null, organization_id: null, priority: null, type: null, brand_id: null, tags: [] });
    const body = tickets.map(t, allRefs, create()).body as Record<string, any>;
    expect(body).toMatchObject({ assignee_id: null, organization_id: null, priority: null, type: null, comments: [], custom_fields: [] });
    expect('brand_id' in body).toBe(false);
  });

  it('without brand mapping, keeps the Zendesk brand_id in zendesk_import; an unmapped brand fails the item', () => {
    const t = parsed(tickets, { ...fixture('ticket.json'), brand_id: 7 });
    const body = tickets.map(t, allRefs, create()).body as Record<string, any>;
    expect('brand_id' in body).toBe(false);
    expect(JSON.parse(body.custom_fields.at(-1).value).brand_id).toBe(7);
    expect(() => tickets.map(t, allRefs, create(bySubdomain))).toThrow(ItemRejectedError);
  });

  it('collects every missing reference into one error', () => {
    const t = parsed(tickets, fixture('ticket.json'));
    const partial = refs({ 'zendesk-users:76872': 'u-sub', 'zendesk-users:235323': 'u-agent' }, { 'zendesk-organizations:509974': 'pending' });
    let err: MissingReferenceError | undefined;
    try {
      tickets.map(t, partial, create());
    } catch (e) {
      err = e as MissingReferenceError;
    }
    expect(err).toBeInstanceOf(MissingReferenceError);
    expect([err!, ...err!.also].map((e) => [e.field, e.sourceId, e.state])).toEqual([
      ['requester_id', '20978392', 'absent'],
      ['organization_id', '509974', 'pending'],
      ['comments[0].author_id', '20978392', 'absent'],
    ]);
    expect(err!.message).toContain('comments[0].author_id points at zendesk-users:20978392');
  });

  it('an update is a PATCH to the mapped id without comments or external_id', () => {
    const t = parsed(tickets, fixture('ticket.json'));
    const req = tickets.map(t, allRefs, { mode: 'update', targetId: 'nx/42', brands: noBrands });
    expect(req.method).toBe('PATCH');
    expect(req.path).toBe('/v1/tickets/nx%2F42');
    const body = req.body as Record<string, any>;
    expect(body.comments).toBeUndefined();
    expect(body.external_id).toBeUndefined();
    expect(body.status).toBe('open');
    expect(JSON.parse(body.custom_fields.at(-1).value).new_comments).toEqual({ count: 2, ids: [1274, 1275] });
  });

  it.each([
    [{ id: 1, status: 'deleted' }, /status "deleted" is not one of/],
    [{ id: 1, status: 'open', priority: 'critical' }, /priority "critical"/],
    [{ id: 1, status: 'open', type: 'bug' }, /type "bug"/],
    [{ id: 1 }, /status is missing/],
    [{ id: 1.5, status: 'open' }, /integer/],
    [{ id: 1, status: 'open', requester_id: 'x' }, /requester_id must be an integer/],
    [{ id: 1, status: 'open', tags: 'a,b' }, /tags must be an array of strings/],
    [{ id: 1, status: 'open', created_at: 'yesterday' }, /created_at must be an ISO 8601 timestamp/],
    [{ id: 1, status: 'open', comments: [{ body: 'hi' }] }, /comments\[0\]\.author_id is missing/],
    [{ id: 1, status: 'open', custom_fields: [{ value: 1 }] }, /custom_fields\[0\] must be an object with an id/],
  ])('rejects %j at staging', (raw, reason) => {
    const r = tickets.parse(raw);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(reason);
  });

  // Zendesk's form is checked by a pattern before Date.parse: the two must agree on what is a timestamp.
  it.each([
    ['2023-01-01T00:30:00Z', true],
    ['2023-01-01T00:30:00.123456Z', true],
    ['2023-01-01T00:30:00+02:00', true],
    ['2023-02-31T00:00:00Z', true], // Date.parse rolls it over to March 3, as it always did here
    ['2023-01-01 00:30', true], // not Zendesk's form, but a date Date.parse reads
    ['Sun, 01 Jan 2023 00:30:00 GMT', true],
    ['2023-13-01T00:00:00Z', false],
    ['2023-01-01T25:00:00Z', false],
    ['2023-01-01T00:30:00Zjunk', false],
    ['', false],
  ])('created_at %j is a timestamp: %s', (created_at, ok) => {
    expect(Number.isNaN(Date.parse(created_at))).toBe(!ok);
    const r = tickets.parse({ id: 1, status: 'open', created_at, comments: [{ author_id: 2, body: 'x', created_at }] });
    expect(r.ok).toBe(ok);
    if (!r.ok) expect(r.reason).toMatch(/created_at must be an ISO 8601 timestamp/);
  });
});

describe('zendesk-users', () => {
  it('maps a user in Zendesk’s documented shape', () => {
    const u = parsed(users, fixture('user.json'));
    const req = users.map(u, refs({ 'zendesk-organizations:57542': 'o-9' }), create());
    expect(req).toEqual({
      method: 'POST',
      path: '/v1/users',
      body: {
        external_id: '35436',
        name: 'Johnny Agent',
        email: 'johnny@example.com',
        role: 'agent',
        organization_id: 'o-9',
        phone: '+15551234567',
        time_zone: 'Europe/Copenhagen',
        tags: ['enterprise', 'other_tag', 'zendesk_suspended'],
      },
    });
  });

  it('end users without organization or email; unknown roles are invalid; updates fail with a reason', () => {
    const u = parsed(users, { id: 5, name: 'Zoë', role: 'end-user', email: null, organization_id: null, time_zone: 'Berlin', active: false });
    expect(users.map(u, refs({}), create()).body).toMatchObject({ email: null, organization_id: null, time_zone: 'Berlin', tags: ['zendesk_inactive'] });
    expect(users.parse({ id: 5, name: 'x', role: 'owner' })).toEqual({ ok: false, reason: expect.stringMatching(/role "owner" is not one of end-user, agent, admin/) });
    expect(() => users.map(u, refs({}), { mode: 'update', targetId: 'u1', brands: noBrands })).toThrow(/cannot update a user/);
  });
});

describe('zendesk-organizations', () => {
  it('maps an organization and keeps the fields NexusCore lacks in notes', () => {
    const o = parsed(organizations, fixture('organization.json'));
    const body = organizations.map(o, refs({}), create()).body as Record<string, any>;
    expect(body).toMatchObject({ external_id: '35436', name: 'One Organization', domain_names: ['example.com', 'test.com'], details: 'This is a kind of organization', tags: ['enterprise', 'other_tag'] });
    expect(body.notes).toMatch(/^\[Zendesk import\] /);
    expect(() => organizations.map(o, refs({}), { mode: 'update', targetId: 'o1', brands: noBrands })).toThrow(/the API cannot update an organization \(there is no PATCH for it\)/);
    expect(JSON.parse(body.notes.replace('[Zendesk import] ', ''))).toEqual({
      organization_fields: { org_dropdown: 'option_1', org_decimal: 5.2 },
      shared_tickets: true,
      shared_comments: true,
      external_id: 'ABC123',
      created_at: '2009-07-20T22:55:29Z',
      updated_at: '2011-05-05T10:38:52Z',
    });
  });
});

describe('zendesk-brands', () => {
  it('is staged only', () => {
    expect(brands.stageOnly).toBe(true);
    expect(brands.parse({ id: 1, name: 'A' })).toEqual({ ok: false, reason: 'subdomain is missing' });
    expect(() => brands.map(parsed(brands, { id: 1, subdomain: 'a' }), refs({}), create())).toThrow(ItemRejectedError);
  });
});
