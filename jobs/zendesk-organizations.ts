/**
 * Zendesk organizations -> POST /v1/organizations.
 *
 * Mapped: id -> external_id (as a string), name, domain_names, details, notes,
 * tags. NexusCore has no place for `organization_fields`, `group_id`,
 * `shared_tickets`, `shared_comments`, Zendesk's own `external_id` and the
 * timestamps: when any is set they are appended to `notes` after a line
 * `[Zendesk import]`, as JSON, so nothing is lost and a person can still read
 * it. (`url` is Zendesk's API address of the record and is dropped.)
 *
 * Updates: NexusCore has no PATCH for organizations, so a record that changed
 * after it was created fails with a reason saying so (visible in status and
 * export-failed) instead of being silently skipped.
 */
import { defineJob } from '../src/index.js';
import { first, idProblem, isObject, noUpdate, present, stringArrayProblem, stringProblem, timestampProblem, type Obj } from './lib/zendesk.js';

export interface ZendeskOrganization extends Obj {
  id: number;
  name: string;
}

/** The marker before the kept Zendesk fields in `notes`. */
export const IMPORT_NOTE_MARKER = '[Zendesk import]';

export default defineJob<ZendeskOrganization>({
  name: 'zendesk-organizations',
  scopes: ['users:write'],
  resource: 'organizations',
  parse(raw) {
    if (!isObject(raw)) return { ok: false, reason: 'expected a Zendesk organization object' };
    const problem = first(
      idProblem(raw.id, 'id', true),
      stringProblem(raw.name, 'name', { required: true }),
      stringArrayProblem(raw.domain_names, 'domain_names'),
      stringArrayProblem(raw.tags, 'tags'),
      stringProblem(raw.details, 'details'),
      stringProblem(raw.notes, 'notes'),
      timestampProblem(raw.created_at, 'created_at'),
      timestampProblem(raw.updated_at, 'updated_at'),
      raw.organization_fields === undefined || raw.organization_fields === null || isObject(raw.organization_fields)
        ? undefined
        : 'organization_fields must be an object',
    );
    return problem ? { ok: false, reason: problem } : { ok: true, record: raw as ZendeskOrganization };
  },
  key: (o) => String(o.id),
  map(o, _refs, ctx) {
    if (ctx.mode === 'update') throw noUpdate('organization', o.id, ctx.targetId);
    const kept = present({
      organization_fields: isObject(o.organization_fields) && Object.keys(o.organization_fields).length ? o.organization_fields : undefined,
      group_id: o.group_id ?? undefined,
      shared_tickets: o.shared_tickets ?? undefined,
      shared_comments: o.shared_comments ?? undefined,
      external_id: o.external_id ?? undefined,
      created_at: o.created_at ?? undefined,
      updated_at: o.updated_at ?? undefined,
    });
    const notes = typeof o.notes === 'string' ? o.notes : null;
    const withKept = Object.keys(kept).length ? `${notes ? `${notes}\n\n` : ''}${IMPORT_NOTE_MARKER} ${JSON.stringify(kept)}` : notes;
    return {
      method: 'POST',
      path: '/v1/organizations',
      body: {
        external_id: String(o.id),
        name: o.name,
        domain_names: (o.domain_names as string[] | null | undefined) ?? [],
        details: (o.details as string | null | undefined) ?? null,
        notes: withKept,
        tags: (o.tags as string[] | null | undefined) ?? [],
      },
    };
  },
});

