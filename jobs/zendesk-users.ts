/**
 * Zendesk users -> POST /v1/users. Depends on zendesk-organizations.
 *
 * Mapped: id -> external_id, name, email, role (end-user, agent, admin; any
 * other role is invalid at staging), organization_id through refs, phone,
 * time_zone (the IANA name `iana_time_zone` when present, else Zendesk's
 * `time_zone`), tags.
 *
 * NexusCore's user has no free-text or custom fields, so `suspended: true`
 * becomes the tag `zendesk_suspended` and `active: false` (a deleted user)
 * `zendesk_inactive`; the rest (alias, details, notes, locale, verified,
 * user_fields, role_type, ...) stays in the staged record in the checkpoint
 * store, unchanged, and is not sent.
 *
 * Updates: NexusCore has no PATCH for users; a changed user fails with a
 * reason saying so.
 */
import { defineJob } from '../src/index.js';
import { first, idProblem, isObject, noUpdate, oneOfProblem, stringArrayProblem, stringProblem, timestampProblem, type Obj } from './lib/zendesk.js';

export interface ZendeskUser extends Obj {
  id: number;
  name: string;
  role: 'end-user' | 'agent' | 'admin';
}

export const USER_ROLES = ['end-user', 'agent', 'admin'] as const;

export default defineJob<ZendeskUser>({
  name: 'zendesk-users',
  scopes: ['users:write'],
  dependsOn: ['zendesk-organizations'],
  resource: 'users',
  parse(raw) {
    if (!isObject(raw)) return { ok: false, reason: 'expected a Zendesk user object' };
    const problem = first(
      idProblem(raw.id, 'id', true),
      stringProblem(raw.name, 'name', { required: true }),
      stringProblem(raw.email, 'email'),
      raw.role === undefined ? 'role is missing (end-user, agent or admin)' : oneOfProblem(raw.role, 'role', USER_ROLES),
      idProblem(raw.organization_id, 'organization_id', false),
      stringProblem(raw.phone, 'phone'),
      stringProblem(raw.time_zone, 'time_zone'),
      stringProblem(raw.iana_time_zone, 'iana_time_zone'),
      stringArrayProblem(raw.tags, 'tags'),
      timestampProblem(raw.created_at, 'created_at'),
    );
    return problem ? { ok: false, reason: problem } : { ok: true, record: raw as ZendeskUser };
  },
  key: (u) => String(u.id),
  map(u, refs, ctx) {
    if (ctx.mode === 'update') throw noUpdate('user', u.id, ctx.targetId);
    const tags = [...((u.tags as string[] | null | undefined) ?? [])];
    if (u.suspended === true && !tags.includes('zendesk_suspended')) tags.push('zendesk_suspended');
    if (u.active === false && !tags.includes('zendesk_inactive')) tags.push('zendesk_inactive');
    return {
      method: 'POST',
      path: '/v1/users',
      body: {
        external_id: String(u.id),
        name: u.name,
        email: (u.email as string | null | undefined) ?? null,
        role: u.role,
        organization_id: refs.id('zendesk-organizations', u.organization_id as number | null | undefined, 'organization_id'),
        phone: (u.phone as string | null | undefined) ?? null,
        time_zone: ((u.iana_time_zone ?? u.time_zone) as string | null | undefined) ?? null,
        tags,
      },
    };
  },
});
