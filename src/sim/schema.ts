/**
 * Record validation for the resource endpoints (docs/nexuscore-api.md,
 * Resources). The doc names the fields; it does not say which are required,
 * so the simulator fixes it here:
 *   organizations: name;  users: name;  tickets: subject and requester_id.
 * Unknown fields are refused ("unknown field") so a job that maps a field the
 * API does not have finds out in tests, not in production.
 *
 * Validation is by type and shape only; references (requester_id ...) are
 * checked by the store, which knows the ids it issued.
 */
import type { ResourceType } from './types.js';

export type Problems = Record<string, string>;
type Check = (v: unknown, field: string, problems: Problems) => void;

/** A reference field: which collection its id must come from. */
export type RefKind = 'users' | 'organizations' | 'brands';

interface FieldSpec {
  check: Check;
  required?: boolean;
  ref?: RefKind;
  /** Applied on create when the field is absent. */
  default?: () => unknown;
}

const problem = (problems: Problems, field: string, text: string) => {
  problems[field] ??= text;
};

const string = (opts: { nonEmpty?: boolean; max?: number } = {}): Check => (v, f, p) => {
  if (typeof v !== 'string') return problem(p, f, 'must be a string');
  if (opts.nonEmpty && v.trim() === '') return problem(p, f, 'must not be empty');
  if (opts.max !== undefined && v.length > opts.max) problem(p, f, `must be at most ${opts.max} characters`);
};
const nullable = (c: Check): Check => (v, f, p) => {
  if (v !== null) c(v, f, p);
};
const oneOf = (values: readonly string[]): Check => (v, f, p) => {
  if (typeof v !== 'string' || !values.includes(v)) problem(p, f, `must be one of ${values.join(', ')}`);
};
const boolean: Check = (v, f, p) => {
  if (typeof v !== 'boolean') problem(p, f, 'must be true or false');
};
const stringArray: Check = (v, f, p) => {
  if (!Array.isArray(v)) return problem(p, f, 'must be an array of strings');
  v.forEach((x, i) => {
    if (typeof x !== 'string') problem(p, `${f}[${i}]`, 'must be a string');
  });
};
const timestamp: Check = (v, f, p) => {
  if (typeof v !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/.test(v) || Number.isNaN(Date.parse(v))) {
    problem(p, f, 'must be an RFC 3339 date-time such as 2024-05-01T12:00:00Z');
  }
};
const email: Check = (v, f, p) => {
  if (typeof v !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(v)) problem(p, f, 'must be an email address');
};
const id: Check = string({ nonEmpty: true, max: 64 });
const externalId: Check = nullable(string({ nonEmpty: true, max: 255 }));
let lastMs = 0;
let lastIso = '';
/** The current time as RFC 3339, formatted at most once per millisecond (it is on every create). */
export function nowIso(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

const customFields: Check = (v, f, p) => {
  if (!Array.isArray(v)) return problem(p, f, 'must be an array of {id, value}');
  v.forEach((x, i) => {
    if (!isObject(x)) return problem(p, `${f}[${i}]`, 'must be an object {id, value}');
    if (!(typeof x.id === 'number' || (typeof x.id === 'string' && x.id !== ''))) problem(p, `${f}[${i}].id`, 'required: a number or string');
    if (!('value' in x)) problem(p, `${f}[${i}].value`, 'required');
    for (const k of Object.keys(x)) if (k !== 'id' && k !== 'value') problem(p, `${f}[${i}].${k}`, 'unknown field');
  });
};

export const TICKET_STATUSES = ['new', 'open', 'pending', 'hold', 'solved', 'closed'] as const;
export const TICKET_PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export const USER_ROLES = ['end-user', 'agent', 'admin'] as const;

/** Comments are checked here for shape; their author_id references by the store. */
const comments: Check = (v, f, p) => {
  if (!Array.isArray(v)) return problem(p, f, 'must be an array of comments');
  v.forEach((c, i) => {
    const at = `${f}[${i}]`;
    if (!isObject(c)) return problem(p, at, 'must be an object {author_id, body, public, created_at}');
    if (!('author_id' in c)) problem(p, `${at}.author_id`, 'required');
    else id(c.author_id, `${at}.author_id`, p);
    if (!('body' in c)) problem(p, `${at}.body`, 'required');
    else string({ nonEmpty: true })(c.body, `${at}.body`, p);
    if ('public' in c) boolean(c.public, `${at}.public`, p);
    if ('created_at' in c) timestamp(c.created_at, `${at}.created_at`, p);
    for (const k of Object.keys(c)) {
      if (!['author_id', 'body', 'public', 'created_at'].includes(k)) problem(p, `${at}.${k}`, 'unknown field');
    }
  });
};

export const SCHEMAS: Record<ResourceType, Record<string, FieldSpec>> = {
  organizations: {
    external_id: { check: externalId, default: () => null },
    name: { check: string({ nonEmpty: true, max: 255 }), required: true },
    domain_names: { check: stringArray, default: () => [] },
    details: { check: nullable(string()), default: () => null },
    notes: { check: nullable(string()), default: () => null },
    tags: { check: stringArray, default: () => [] },
  },
  users: {
    external_id: { check: externalId, default: () => null },
    name: { check: string({ nonEmpty: true, max: 255 }), required: true },
    email: { check: nullable(email), default: () => null },
    role: { check: oneOf(USER_ROLES), default: () => 'end-user' },
    organization_id: { check: nullable(id), ref: 'organizations', default: () => null },
    phone: { check: nullable(string()), default: () => null },
    time_zone: { check: nullable(string()), default: () => null },
    tags: { check: stringArray, default: () => [] },
  },
  tickets: {
    external_id: { check: externalId, default: () => null },
    subject: { check: string({ nonEmpty: true, max: 255 }), required: true },
    description: { check: nullable(string()), default: () => null },
    status: { check: oneOf(TICKET_STATUSES), default: () => 'new' },
    priority: { check: nullable(oneOf(TICKET_PRIORITIES)), default: () => null },
    type: { check: nullable(string()), default: () => null },
    requester_id: { check: id, required: true, ref: 'users' },
    assignee_id: { check: nullable(id), ref: 'users', default: () => null },
    organization_id: { check: nullable(id), ref: 'organizations', default: () => null },
    brand_id: { check: nullable(id), ref: 'brands', default: () => null },
    tags: { check: stringArray, default: () => [] },
    custom_fields: { check: customFields, default: () => [] },
    created_at: { check: timestamp, default: nowIso },
    updated_at: { check: timestamp, default: nowIso },
    comments: { check: comments, default: () => [] },
  },
};

// Precomputed per type: validation runs on every write of a benchmark.
const FIELDS = mapTypes((t) => Object.entries(SCHEMAS[t]));
const REQUIRED = mapTypes((t) => FIELDS[t].filter(([, s]) => s.required).map(([f]) => f));
const REF_FIELDS = mapTypes((t) => FIELDS[t].flatMap(([f, s]) => (s.ref ? [[f, s.ref] as [string, RefKind]] : [])));

function mapTypes<T>(f: (t: ResourceType) => T): Record<ResourceType, T> {
  return { tickets: f('tickets'), users: f('users'), organizations: f('organizations') };
}

/**
 * Shape problems of a create (`partial` false) or a PATCH (`partial` true:
 * nothing required). Returns {} when the body is fine.
 */
export function validateRecord(type: ResourceType, body: unknown, partial: boolean): Problems {
  const problems: Problems = {};
  if (!isObject(body)) return { body: `must be a JSON object of ${type.slice(0, -1)} fields` };
  const schema = SCHEMAS[type];
  for (const [field, value] of Object.entries(body)) {
    const spec = schema[field];
    if (!spec) problem(problems, field, field === 'id' ? 'set by the server; do not send it' : 'unknown field');
    else spec.check(value, field, problems);
  }
  if (!partial) {
    for (const field of REQUIRED[type]) if (!(field in body)) problem(problems, field, 'required');
  }
  return problems;
}

/** The references a valid record makes: [field, kind, id]. */
export function referencesOf(type: ResourceType, body: Record<string, unknown>): [string, RefKind, string][] {
  const refs: [string, RefKind, string][] = [];
  for (const [field, ref] of REF_FIELDS[type]) {
    const v = body[field];
    if (typeof v === 'string') refs.push([field, ref, v]);
  }
  if (type === 'tickets' && Array.isArray(body.comments)) {
    body.comments.forEach((c: unknown, i: number) => {
      if (isObject(c) && typeof c.author_id === 'string') refs.push([`comments[${i}].author_id`, 'users', c.author_id]);
    });
  }
  return refs;
}

/** The record with every absent field set to its default (create only). */
export function withDefaults(type: ResourceType, body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, spec] of FIELDS[type]) {
    out[field] = field in body ? body[field] : spec.default ? spec.default() : null;
  }
  if (type === 'tickets') {
    out.comments = (out.comments as Record<string, unknown>[]).map((c) => ({ public: true, created_at: out.created_at, ...c }));
  }
  return out;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
