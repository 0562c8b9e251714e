/**
 * Brand mapping for tickets: a source brand id to a NexusCore brand id.
 *
 * - `file`: an explicit JSON map `{"<source brand id>": "<NexusCore brand id or subdomain>"}` (--brand-map);
 * - `subdomain`: the staged Zendesk brands export (job `zendesk-brands`)
 *   joined by subdomain with NexusCore's `GET /v1/brands`, read once per run;
 * - `none`: neither is in place, tickets go without brand_id and the run says
 *   so once, the first time a record carries a brand.
 * With a mapping in place, a ticket of an unmapped brand fails on its own.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { type BrandResolver, ItemRejectedError } from '../types.js';

export interface NexusBrand {
  id: string;
  name?: string;
  subdomain: string;
}

export function createBrandResolver(
  mode: BrandResolver['mode'],
  map: ReadonlyMap<string, string>,
  onNotice: (message: string) => void = () => {},
): BrandResolver {
  let told = false;
  return {
    mode,
    resolve(sourceBrandId) {
      if (sourceBrandId === null || sourceBrandId === undefined || sourceBrandId === '') return null;
      if (mode === 'none') {
        if (!told) {
          told = true;
          onNotice(
            'Records carry source brand ids but no brand mapping is in place, so tickets are sent without brand_id. To keep brands, stage the Zendesk brands export (nexus-backfill load zendesk-brands brands.json) or pass --brand-map FILE.',
          );
        }
        return null;
      }
      const id = map.get(String(sourceBrandId));
      if (!id) {
        throw new ItemRejectedError(
          mode === 'file'
            ? `brand ${sourceBrandId} is missing from --brand-map. Add it to that file ("${sourceBrandId}": "<NexusCore brand id or subdomain>"), then nexus-backfill retry for this job and run again.`
            : `brand ${sourceBrandId} has no NexusCore brand (no NexusCore brand has its Zendesk subdomain). Create that brand in NexusCore, or map brands explicitly with --brand-map FILE (JSON: {"${sourceBrandId}": "<NexusCore brand id or subdomain>"}), then nexus-backfill retry for this job and run again.`,
        );
      }
      return id;
    },
  };
}

/** Reads a --brand-map file; values may be NexusCore brand ids or subdomains (resolved against `brands`). */
export function brandMapFromFile(file: string, brands: readonly NexusBrand[] | undefined): Map<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--brand-map ${file} could not be read as JSON (${(err as Error).message}). It should map source brand ids to NexusCore brand ids or subdomains: {"360001": "brd_1"}.`, { cause: err });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UsageError(`--brand-map ${file} must be a JSON object mapping source brand ids to NexusCore brand ids or subdomains, like {"360001": "brd_1"}.`);
  }
  const bySubdomain = new Map((brands ?? []).map((b) => [b.subdomain, b.id]));
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string' || v === '') throw new UsageError(`--brand-map ${file}: the value for ${k} must be a NexusCore brand id or subdomain string.`);
    out.set(k, bySubdomain.get(v) ?? v);
  }
  return out;
}

/** Joins staged source brands ({id, subdomain}) with NexusCore's brands by subdomain. */
export function brandMapBySubdomain(sourceBrands: Iterable<{ sourceId: string; record: unknown }>, brands: readonly NexusBrand[]): Map<string, string> {
  const bySubdomain = new Map(brands.map((b) => [b.subdomain.toLowerCase(), b.id]));
  const out = new Map<string, string>();
  for (const { sourceId, record } of sourceBrands) {
    const sub = (record as { subdomain?: unknown } | null)?.subdomain;
    if (typeof sub !== 'string') continue;
    const id = bySubdomain.get(sub.toLowerCase());
    if (id) out.set(sourceId, id);
  }
  return out;
}
