/**
 * Zendesk brands: staged, never sent. The engine reads them (with
 * `store.iterateRecords('zendesk-brands')`) once per run to map a ticket's
 * `brand_id` to the NexusCore brand of the same `subdomain` (GET /v1/brands).
 * Stage them with `nexus-backfill load zendesk-brands brands.json` (an API
 * page `{"brands": [...]}`, an array or NDJSON).
 */
import { defineJob, ItemRejectedError } from '../src/index.js';
import { first, idProblem, isObject, stringProblem, type Obj } from './lib/zendesk.js';

export interface ZendeskBrand extends Obj {
  id: number;
  name: string;
  subdomain: string;
}

export default defineJob<ZendeskBrand>({
  name: 'zendesk-brands',
  scopes: ['brands:read'],
  resource: 'brands',
  stageOnly: true,
  parse(raw) {
    if (!isObject(raw)) return { ok: false, reason: 'expected a Zendesk brand object' };
    const problem = first(idProblem(raw.id, 'id', true), stringProblem(raw.name, 'name'), stringProblem(raw.subdomain, 'subdomain', { required: true }));
    return problem ? { ok: false, reason: problem } : { ok: true, record: raw as ZendeskBrand };
  },
  key: (b) => String(b.id),
  map() {
    throw new ItemRejectedError('zendesk-brands is staged for brand mapping only and is never sent.');
  },
});
