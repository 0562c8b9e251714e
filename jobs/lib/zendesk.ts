/**
 * Checks shared by the Zendesk job definitions: field shapes of Zendesk's
 * Support API JSON (tickets, users, organizations, brands), as found in its
 * full JSON export (one object per line), API list pages and arrays.
 * Not a job file: the loader reads only the top level of jobs/.
 */
import { ItemRejectedError, MissingReferenceError, type Refs } from '../../src/index.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
/** A Zendesk record: checked field by field in parse(), so fields are read loosely afterwards. */
export type Obj = Record<string, any>;

/** A reason why `v` is not a Zendesk id (a positive integer), or undefined. */
export function idProblem(v: unknown, field: string, required: boolean): string | undefined {
  if (v === undefined || v === null) return required ? `${field} is missing; a Zendesk record needs an integer id` : undefined;
  if (!Number.isSafeInteger(v) || (v as number) < 0) return `${field} must be an integer Zendesk id, got ${JSON.stringify(v)}`;
  return undefined;
}

export function stringProblem(v: unknown, field: string, opts: { required?: boolean } = {}): string | undefined {
  if (v === undefined || v === null) return opts.required ? `${field} is missing` : undefined;
  return typeof v === 'string' ? undefined : `${field} must be a string, got ${JSON.stringify(v)?.slice(0, 60)}`;
}

export function oneOfProblem(v: unknown, field: string, allowed: readonly (string | null)[]): string | undefined {
  if (v === undefined) v = null;
  return allowed.includes(v as string | null)
    ? undefined
    : `${field} ${JSON.stringify(v)} is not one of ${allowed.map((a) => (a === null ? 'null' : a)).join(', ')}`;
}

export function stringArrayProblem(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  return Array.isArray(v) && v.every((t) => typeof t === 'string') ? undefined : `${field} must be an array of strings`;
}

/**
 * Zendesk's own timestamp form (`2023-01-01T00:30:00Z`, with an offset or a fraction of a second): every
 * string it matches is one Date.parse accepts, and it is checked first because it is ~10x cheaper. A ticket
 * carries 3 to 5 timestamps, and Date.parse took ~6% of a parser thread's time staging tickets.
 */
const ZENDESK_TIME = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;

export function timestampProblem(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' && (ZENDESK_TIME.test(v) || !Number.isNaN(Date.parse(v))) ? undefined : `${field} must be an ISO 8601 timestamp, got ${JSON.stringify(v)}`;
}

/** The first problem of a list, or undefined. */
export function first(...problems: (string | undefined)[]): string | undefined {
  return problems.find((p) => p !== undefined);
}

export function isObject(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Refs that collect every missing reference instead of stopping at the first,
 * so one failure names all of a record's missing parents.
 */
export function collectingRefs(refs: Refs): { id: Refs['id']; throwMissing(): void } {
  const missing: MissingReferenceError[] = [];
  return {
    id(job, sourceId, field) {
      try {
        return refs.id(job, sourceId, field);
      } catch (err) {
        if (err instanceof MissingReferenceError || (err as Error)?.name === 'MissingReferenceError') {
          missing.push(err as MissingReferenceError);
          return null;
        }
        throw err;
      }
    },
    throwMissing() {
      MissingReferenceError.throwAll(missing);
    },
  };
}

/** Keeps only the keys of `o` that are present (not undefined), for a compact JSON note. */
export function present(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)));
}

/** For users and organizations, which NexusCore cannot update: the item fails saying why. */
export function noUpdate(what: 'user' | 'organization', id: unknown, targetId: string | undefined): ItemRejectedError {
  const one = what === 'user' ? 'a user' : 'an organization';
  return new ItemRejectedError(
    `Zendesk ${what} ${String(id)} changed after it was created in NexusCore (id ${targetId ?? 'unknown'}), but the API cannot update ${one} (there is no PATCH for it); the change was not applied. Edit it in NexusCore by hand if it matters.`,
  );
}
