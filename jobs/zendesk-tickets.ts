/**
 * Zendesk tickets (with the `comments` array of the full JSON export) ->
 * POST /v1/tickets; a ticket that changed after it was created -> PATCH
 * /v1/tickets/{id}. Depends on zendesk-users and zendesk-organizations.
 *
 * Mapped:
 * - id -> external_id (as a string); subject (raw_subject when subject is
 *   missing); description; type (problem, incident, question, task, null);
 * - status new/open/pending/hold/solved/closed and priority
 *   low/normal/high/urgent/null, same words in NexusCore; any other value
 *   (e.g. `deleted`) makes the record invalid at staging;
 * - requester_id, assignee_id (users) and organization_id through refs, and
 *   every comment's author_id; all missing references are reported together;
 * - brand_id through the run's brand resolver (by subdomain or a brand map
 *   file; left out when the run has neither);
 * - tags, custom_fields [{id, value}] as they are (Zendesk's `fields` is a
 *   duplicate of custom_fields and is not sent twice), created_at, updated_at;
 * - comments in export order: author_id, body (plain_body, then html_body,
 *   when body is absent), public (default true), created_at.
 *
 * NexusCore's ticket lacks the rest. It is kept, as one JSON object, in the
 * custom field `zendesk_import` (EXTRA_FIELD_ID): via, satisfaction_rating,
 * the submitter (its NexusCore id, through refs, and its Zendesk id), group_id,
 * collaborator/follower/email_cc ids, due_at, problem_id, has_incidents,
 * is_public, recipient, ticket_form_id, sharing_agreement_ids, followup_ids,
 * Zendesk's own external_id, and per comment its Zendesk id, via and
 * attachments (file name, content URL, type, size). `url` and
 * `allow_channelback`/`allow_attachments` (Zendesk settings) are dropped.
 *
 * Updates (PATCH) carry every ticket field but `comments` and `external_id`:
 * NexusCore documents no way to add comments to an existing ticket, and
 * re-sending the list could duplicate them; comments added in Zendesk after
 * the first migration are therefore kept only in `zendesk_import.new_comments`
 * (their count and ids).
 */
import { defineJob, type Refs } from '../src/index.js';
import {
  collectingRefs,
  first,
  idProblem,
  isObject,
  oneOfProblem,
  present,
  stringArrayProblem,
  stringProblem,
  timestampProblem,
  type Json,
  type Obj,
} from './lib/zendesk.js';

export const TICKET_STATUSES = ['new', 'open', 'pending', 'hold', 'solved', 'closed'] as const;
export const TICKET_PRIORITIES = ['low', 'normal', 'high', 'urgent', null] as const;
export const TICKET_TYPES = ['problem', 'incident', 'question', 'task', null] as const;
/** The NexusCore custom field that keeps the Zendesk fields NexusCore has no place for. */
export const EXTRA_FIELD_ID = 'zendesk_import';

export interface ZendeskComment extends Obj {
  author_id: number;
}

export interface ZendeskTicket extends Obj {
  id: number;
  status: (typeof TICKET_STATUSES)[number];
  comments?: ZendeskComment[];
}

function commentProblem(c: unknown, i: number): string | undefined {
  const at = `comments[${i}]`;
  if (!isObject(c)) return `${at} must be an object`;
  return first(
    idProblem(c.author_id, `${at}.author_id`, true),
    stringProblem(c.body, `${at}.body`),
    stringProblem(c.plain_body, `${at}.plain_body`),
    stringProblem(c.html_body, `${at}.html_body`),
    c.public === undefined || c.public === null || typeof c.public === 'boolean' ? undefined : `${at}.public must be true or false`,
    timestampProblem(c.created_at, `${at}.created_at`),
  );
}

function customFieldsProblem(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) return 'custom_fields must be an array of {id, value}';
  const bad = v.findIndex((f) => !isObject(f) || f.id === undefined || f.id === null);
  return bad >= 0 ? `custom_fields[${bad}] must be an object with an id` : undefined;
}

function idsOrEmpty(v: Json | undefined): Json[] {
  return Array.isArray(v) ? v : [];
}

function mapComments(t: ZendeskTicket, refs: Refs): { comments: unknown[]; kept: unknown[] } {
  const comments: unknown[] = [];
  const kept: unknown[] = [];
  (t.comments ?? []).forEach((c, i) => {
    comments.push({
      author_id: refs.id('zendesk-users', c.author_id, `comments[${i}].author_id`),
      body: (c.body ?? c.plain_body ?? c.html_body ?? '') as string,
      public: c.public ?? true,
      ...(c.created_at ? { created_at: c.created_at } : {}),
    });
    const attachments = Array.isArray(c.attachments)
      ? c.attachments.filter(isObject).map((a) => present({ file_name: a.file_name, content_url: a.content_url, content_type: a.content_type, size: a.size }))
      : [];
    const k = present({ index: i, id: c.id ?? undefined, via: c.via ?? undefined, attachments });
    if (Object.keys(k).length > 1) kept.push(k);
  });
  return { comments, kept };
}

export default defineJob<ZendeskTicket>({
  name: 'zendesk-tickets',
  scopes: ['tickets:write'],
  dependsOn: ['zendesk-users', 'zendesk-organizations'],
  resource: 'tickets',
  parse(raw) {
    if (!isObject(raw)) return { ok: false, reason: 'expected a Zendesk ticket object' };
    const problem = first(
      idProblem(raw.id, 'id', true),
      raw.status === undefined ? 'status is missing' : oneOfProblem(raw.status, 'status', TICKET_STATUSES),
      oneOfProblem(raw.priority, 'priority', TICKET_PRIORITIES),
      oneOfProblem(raw.type, 'type', TICKET_TYPES),
      stringProblem(raw.subject, 'subject'),
      stringProblem(raw.description, 'description'),
      idProblem(raw.requester_id, 'requester_id', false),
      idProblem(raw.submitter_id, 'submitter_id', false),
      idProblem(raw.assignee_id, 'assignee_id', false),
      idProblem(raw.organization_id, 'organization_id', false),
      idProblem(raw.brand_id, 'brand_id', false),
      stringArrayProblem(raw.tags, 'tags'),
      customFieldsProblem(raw.custom_fields),
      timestampProblem(raw.created_at, 'created_at'),
      timestampProblem(raw.updated_at, 'updated_at'),
      raw.comments === undefined || raw.comments === null || Array.isArray(raw.comments) ? undefined : 'comments must be an array',
      ...(Array.isArray(raw.comments) ? raw.comments.map(commentProblem) : []),
    );
    return problem ? { ok: false, reason: problem } : { ok: true, record: raw as ZendeskTicket };
  },
  key: (t) => String(t.id),
  map(t, baseRefs, ctx) {
    const refs = collectingRefs(baseRefs);
    const requester = refs.id('zendesk-users', t.requester_id as number | null | undefined, 'requester_id');
    const submitter = refs.id('zendesk-users', t.submitter_id as number | null | undefined, 'submitter_id');
    const assignee = refs.id('zendesk-users', t.assignee_id as number | null | undefined, 'assignee_id');
    const organization = refs.id('zendesk-organizations', t.organization_id as number | null | undefined, 'organization_id');
    const { comments, kept: keptComments } = mapComments(t, refs);
    refs.throwMissing();
    const brand = ctx.brands.resolve(t.brand_id as number | null | undefined);

    const kept = present({
      via: t.via ?? undefined,
      satisfaction_rating: t.satisfaction_rating ?? undefined,
      submitter_id: submitter ?? undefined,
      zendesk_submitter_id: t.submitter_id ?? undefined,
      group_id: t.group_id ?? undefined,
      collaborator_ids: idsOrEmpty(t.collaborator_ids),
      follower_ids: idsOrEmpty(t.follower_ids),
      email_cc_ids: idsOrEmpty(t.email_cc_ids),
      due_at: t.due_at ?? undefined,
      problem_id: t.problem_id ?? undefined,
      has_incidents: t.has_incidents || undefined,
      is_public: t.is_public === false ? false : undefined,
      recipient: t.recipient ?? undefined,
      ticket_form_id: t.ticket_form_id ?? undefined,
      sharing_agreement_ids: idsOrEmpty(t.sharing_agreement_ids),
      followup_ids: idsOrEmpty(t.followup_ids),
      external_id: t.external_id ?? undefined,
      brand_id: ctx.brands.mode === 'none' && t.brand_id != null ? t.brand_id : undefined,
      comments: ctx.mode === 'create' ? keptComments : undefined,
      new_comments: ctx.mode === 'update' && comments.length ? { count: comments.length, ids: (t.comments ?? []).map((c) => c.id ?? null) } : undefined,
    });
    const customFields = Array.isArray(t.custom_fields) ? t.custom_fields.filter(isObject).map((f) => ({ id: f.id, value: f.value ?? null })) : [];
    if (Object.keys(kept).length) customFields.push({ id: EXTRA_FIELD_ID, value: JSON.stringify(kept) });

    const body: Record<string, unknown> = {
      external_id: String(t.id),
      subject: t.subject ?? t.raw_subject ?? null,
      description: t.description ?? null,
      status: t.status,
      priority: t.priority ?? null,
      type: t.type ?? null,
      requester_id: requester,
      assignee_id: assignee,
      organization_id: organization,
      ...(brand !== null ? { brand_id: brand } : {}),
      tags: (t.tags as string[] | null | undefined) ?? [],
      custom_fields: customFields,
      // Left out when the export has none: NexusCore then stamps the time of the import.
      ...(t.created_at ? { created_at: t.created_at } : {}),
      ...(t.updated_at ? { updated_at: t.updated_at } : {}),
      comments,
    };
    if (ctx.mode === 'update') {
      delete body.external_id;
      delete body.comments;
      return { method: 'PATCH', path: `/v1/tickets/${encodeURIComponent(ctx.targetId ?? '')}`, body };
    }
    return { method: 'POST', path: '/v1/tickets', body };
  },
});
