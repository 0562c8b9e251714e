/**
 * The workspace's records and the resource operations on them. Every
 * operation returns a Reply (status and body as the API answers) plus the
 * webhook events it caused; the server puts them on the wire.
 *
 * Lookups are by Map so no request does work proportional to the number of
 * records stored: the simulator must stay fast under benchmark loads.
 */
import type { Principal } from './credentials.js';
import type { Reply } from './reply.js';
import { apiError, json } from './reply.js';
import { isObject, nowIso, referencesOf, validateRecord, withDefaults, type Problems } from './schema.js';
import type { ResourceType, SimBrand, SimRecord } from './types.js';
import { RESOURCE_TYPES } from './types.js';

export interface WebhookEvent {
  type: 'ticket.created' | 'ticket.updated' | 'user.created';
  data: SimRecord;
}

export interface Outcome {
  reply: Reply;
  events: WebhookEvent[];
  /** 409 codes produced (single or per record), for stats. */
  conflicts: string[];
}

export const MAX_IMPORT_RECORDS = 100;

const ID_PREFIX: Record<ResourceType, string> = { tickets: 'tkt', users: 'usr', organizations: 'org' };
const EVENT_ON_CREATE: Partial<Record<ResourceType, WebhookEvent['type']>> = { tickets: 'ticket.created', users: 'user.created' };

interface Collection {
  byId: Map<string, SimRecord>;
  /** external_id -> records carrying it, in creation order. */
  byExternalId: Map<string, SimRecord[]>;
  duplicates: number;
  seq: number;
}

export interface RecordStore {
  create(type: ResourceType, body: unknown, who: Principal): Outcome;
  update(type: ResourceType, id: string, body: unknown, who: Principal): Outcome;
  get(type: ResourceType, id: string, who: Principal): Reply;
  findByExternalId(type: ResourceType, externalId: string | null, who: Principal): Reply;
  bulkImport(type: ResourceType, body: unknown, who: Principal): Outcome;
  brands(who: Principal): Reply;
  records(type: ResourceType): SimRecord[];
  count(type: ResourceType): number;
  externalIds(type: ResourceType): Record<string, number>;
  duplicateExternalIds(type: ResourceType): number;
}

export function createRecordStore(opts: { brands: readonly SimBrand[]; uniqueExternalId: boolean }): RecordStore {
  return new Store(opts.brands, opts.uniqueExternalId);
}

class Store implements RecordStore {
  #brands: readonly SimBrand[];
  #brandIds: Set<string>;
  #unique: boolean;
  #collections: Record<ResourceType, Collection>;

  constructor(brands: readonly SimBrand[], unique: boolean) {
    this.#brands = brands;
    this.#brandIds = new Set(brands.map((b) => b.id));
    this.#unique = unique;
    const empty = (): Collection => ({ byId: new Map(), byExternalId: new Map(), duplicates: 0, seq: 0 });
    this.#collections = { tickets: empty(), users: empty(), organizations: empty() };
  }

  create(type: ResourceType, body: unknown, who: Principal): Outcome {
    const refused = this.#check(type, body, who, false, null);
    if (refused) return refused;
    const record = withDefaults(type, body as Record<string, unknown>);
    const c = this.#collections[type];
    c.seq++;
    // Opaque to clients, but readable in test output: prefix plus a sequence.
    const stored = { id: `${ID_PREFIX[type]}_${c.seq.toString(36).padStart(6, '0')}`, ...record } as SimRecord;
    if (type !== 'tickets') stored.created_at = nowIso();
    c.byId.set(stored.id, stored);
    this.#indexExternalId(c, stored);
    const event = EVENT_ON_CREATE[type];
    return { reply: json(201, stored), events: event ? [{ type: event, data: stored }] : [], conflicts: [] };
  }

  update(type: ResourceType, id: string, body: unknown, who: Principal): Outcome {
    const c = this.#collections[type];
    const existing = c.byId.get(id);
    if (!existing) return plain(apiError(404, 'not_found', `No ${singular(type)} with id ${id}.`));
    if (type === 'tickets' && !this.#brandAllowed(who, existing.brand_id)) {
      return plain(apiError(403, 'brand_forbidden', `Ticket ${id} belongs to brand ${String(existing.brand_id)}, outside this credential's brands.`));
    }
    const refused = this.#check(type, body, who, true, existing);
    if (refused) return refused;
    const changes = body as Record<string, unknown>;
    if ('external_id' in changes && changes.external_id !== existing.external_id) {
      this.#unindexExternalId(c, existing);
      existing.external_id = changes.external_id as string | null;
      this.#indexExternalId(c, existing);
    }
    Object.assign(existing, changes);
    if (type === 'tickets' && !('updated_at' in changes)) existing.updated_at = nowIso();
    return { reply: json(200, existing), events: type === 'tickets' ? [{ type: 'ticket.updated', data: existing }] : [], conflicts: [] };
  }

  get(type: ResourceType, id: string, who: Principal): Reply {
    const record = this.#collections[type].byId.get(id);
    if (!record) return apiError(404, 'not_found', `No ${singular(type)} with id ${id}.`);
    if (type === 'tickets' && !this.#brandAllowed(who, record.brand_id)) {
      return apiError(403, 'brand_forbidden', `Ticket ${id} belongs to a brand outside this credential's brands.`);
    }
    return json(200, record);
  }

  findByExternalId(type: ResourceType, externalId: string | null, who: Principal): Reply {
    if (externalId === null || externalId === '') {
      return apiError(422, 'validation_failed', 'Give ?external_id= to look records up.', { fields: { external_id: 'required' } });
    }
    const found = (this.#collections[type].byExternalId.get(externalId) ?? []).filter(
      (r) => type !== 'tickets' || this.#brandAllowed(who, r.brand_id),
    );
    return json(200, { [type]: found });
  }

  bulkImport(type: ResourceType, body: unknown, who: Principal): Outcome {
    const list = isObject(body) ? body[type] : undefined;
    if (!Array.isArray(list)) {
      return plain(apiError(422, 'validation_failed', `Send {"${type}": [records]}.`, { fields: { [type]: 'required: an array of records' } }));
    }
    if (list.length === 0 || list.length > MAX_IMPORT_RECORDS) {
      return plain(
        apiError(422, 'validation_failed', `A bulk import carries 1 to ${MAX_IMPORT_RECORDS} records, got ${list.length}.`, {
          fields: { [type]: `must hold 1 to ${MAX_IMPORT_RECORDS} records` },
        }),
      );
    }
    const events: WebhookEvent[] = [];
    const conflicts: string[] = [];
    const results = list.map((record, index) => {
      const one = this.create(type, record, who);
      events.push(...one.events);
      const parsed = JSON.parse(one.reply.body) as Record<string, any>;
      if (one.reply.status === 201) return { index, status: 201, id: parsed.id as string };
      if (one.reply.status === 409) conflicts.push(parsed.error.code);
      return { index, status: one.reply.status, error: parsed.error };
    });
    return { reply: json(200, { results }), events, conflicts };
  }

  brands(who: Principal): Reply {
    const visible = who.brands ? this.#brands.filter((b) => who.brands!.has(b.id)) : this.#brands;
    return json(200, { brands: visible });
  }

  records(type: ResourceType): SimRecord[] {
    return structuredClone([...this.#collections[type].byId.values()]);
  }

  count(type: ResourceType): number {
    return this.#collections[type].byId.size;
  }

  externalIds(type: ResourceType): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [ext, list] of this.#collections[type].byExternalId) out[ext] = list.length;
    return out;
  }

  duplicateExternalIds(type: ResourceType): number {
    return this.#collections[type].duplicates;
  }

  /** Validation (422), references (422), brand (403), uniqueness (409): a refusal, or null to go ahead. */
  #check(type: ResourceType, body: unknown, who: Principal, partial: boolean, existing: SimRecord | null): Outcome | null {
    const problems = validateRecord(type, body, partial);
    if (isObject(body)) {
      for (const [field, kind, ref] of referencesOf(type, body)) {
        if (problems[field]) continue;
        const known = kind === 'brands' ? this.#brandIds.has(ref) : this.#collections[kind].byId.has(ref);
        if (!known) problems[field] = `no ${kind === 'brands' ? 'brand' : singular(kind)} with id ${ref} in this workspace`;
      }
    }
    if (Object.keys(problems).length > 0) return plain(validationFailed(problems));
    const fields = body as Record<string, unknown>;
    if (type === 'tickets' && 'brand_id' in fields && !this.#brandAllowed(who, fields.brand_id)) {
      return plain(apiError(403, 'brand_forbidden', `Brand ${String(fields.brand_id)} is outside this credential's brands.`));
    }
    const ext = fields.external_id;
    if (this.#unique && typeof ext === 'string' && ext !== existing?.external_id) {
      const taken = this.#collections[type].byExternalId.get(ext)?.[0];
      if (taken) {
        return {
          reply: apiError(409, 'duplicate_external_id', `A ${singular(type)} with external_id ${ext} exists: ${taken.id}.`, { existing_id: taken.id }),
          events: [],
          conflicts: ['duplicate_external_id'],
        };
      }
    }
    return null;
  }

  #brandAllowed(who: Principal, brandId: unknown): boolean {
    // A ticket without a brand is not any brand's: a restricted key may touch it.
    return who.brands === null || brandId === null || brandId === undefined || who.brands.has(String(brandId));
  }

  #indexExternalId(c: Collection, r: SimRecord): void {
    if (typeof r.external_id !== 'string') return;
    const list = c.byExternalId.get(r.external_id);
    if (!list) c.byExternalId.set(r.external_id, [r]);
    else {
      list.push(r);
      if (list.length === 2) c.duplicates++;
    }
  }

  #unindexExternalId(c: Collection, r: SimRecord): void {
    if (typeof r.external_id !== 'string') return;
    const list = c.byExternalId.get(r.external_id);
    if (!list) return;
    const rest = list.filter((x) => x !== r);
    if (list.length >= 2 && rest.length < 2) c.duplicates--;
    if (rest.length === 0) c.byExternalId.delete(r.external_id);
    else c.byExternalId.set(r.external_id, rest);
  }
}

function validationFailed(fields: Problems): Reply {
  const summary = Object.entries(fields)
    .slice(0, 3)
    .map(([f, p]) => `${f}: ${p}`)
    .join('; ');
  return apiError(422, 'validation_failed', `The record is invalid (${summary}).`, { fields });
}

function plain(reply: Reply): Outcome {
  return { reply, events: [], conflicts: [] };
}

function singular(type: ResourceType | 'users' | 'organizations'): string {
  return type === 'organizations' ? 'organization' : type.slice(0, -1);
}

export { RESOURCE_TYPES };
