/**
 * Shared vocabulary of nexus-backfill.
 *
 * Glossary
 * - item:    one record of an export staged for one job, keyed `<job>:<source id>`.
 *            The key is also the Idempotency-Key and the external_id sent.
 * - job:     a definition (data plus pure functions) that turns export records
 *            into NexusCore requests: see `JobDefinition`.
 * - run:     one invocation of `nexus-backfill run`; a migration may take many.
 * - send:    one HTTP request put on the wire for an item (a 429 is a send).
 * - attempt: a send that failed in a way that counts towards --max-attempts
 *            (a 429 is a send but not a failed attempt).
 * - window:  one quota rule "at most N requests in any W seconds"; the
 *            workspace enforces several at once.
 */

export type ItemState = 'pending' | 'inflight' | 'done' | 'failed' | 'dead' | 'invalid';
export const ITEM_STATES: readonly ItemState[] = ['pending', 'inflight', 'done', 'failed', 'dead', 'invalid'];

export type Scope = 'tickets:read' | 'tickets:write' | 'brands:read' | 'users:read' | 'users:write';

export type HttpMethod = 'GET' | 'POST' | 'PATCH';

/** What a job's `map` returns: the request to send, with no I/O done. */
export interface RequestSpec {
  method: HttpMethod;
  /** Relative to the base URL, starting with `/`. */
  path: string;
  body?: unknown;
}

/** One quota rule: at most `count` requests started in any `windowMs`. */
export interface RateWindow {
  count: number;
  windowMs: number;
}

export const DEFAULT_WINDOWS: readonly RateWindow[] = [
  { count: 600, windowMs: 60_000 },
  { count: 150, windowMs: 10_000 },
];

/**
 * Thrown by `refs.id()` when a referenced record has no NexusCore id yet.
 * The engine decides: a parent still `pending`/`inflight` makes the item wait;
 * one that is `failed`, `dead`, `invalid` or `absent` from the export fails the
 * item with a reason that names the parent and its state.
 */
export class MissingReferenceError extends Error {
  constructor(
    readonly job: string,
    readonly sourceId: string,
    readonly state: ItemState | 'absent',
    /** Which field of the record pointed at it, e.g. `requester_id`. */
    readonly field: string,
  ) {
    super(`${field} points at ${job}:${sourceId}, which is ${state === 'absent' ? 'absent from the staged export' : state}`);
    this.name = 'MissingReferenceError';
  }

  /**
   * The other missing references of the same record, when `map` collected
   * them all (the ticket job does): the item waits while any of them is
   * `pending`/`inflight`, and otherwise fails with every reason at once.
   */
  also: readonly MissingReferenceError[] = [];

  /** Throws the first of `errors` carrying the rest in `also`, its message naming them all; does nothing for none. */
  static throwAll(errors: readonly MissingReferenceError[]): void {
    const [first, ...rest] = errors;
    if (!first) return;
    first.also = rest;
    if (rest.length) first.message = [first, ...rest].map((e) => `${e.field} points at ${e.job}:${e.sourceId}, which is ${e.state === 'absent' ? 'absent from the staged export' : e.state}`).join('; ');
    throw first;
  }
}

/** Thrown by `map` when the record cannot be sent as it is (e.g. an unmapped brand): the item fails with this reason. */
export class ItemRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ItemRejectedError';
  }
}

/** Resolves source ids of other jobs to NexusCore ids (reads the id map; no network). */
export interface Refs {
  /**
   * The NexusCore id of `<job>:<sourceId>`, or null when `sourceId` is null or
   * undefined. Throws MissingReferenceError when the parent has no id yet.
   * `field` names the record field, for the error message.
   */
  id(job: string, sourceId: string | number | null | undefined, field: string): string | null;
}

/** Maps a source system's brand id to a NexusCore brand id. */
export interface BrandResolver {
  /** How brands are resolved this run; `none` means tickets go without brand_id. */
  readonly mode: 'none' | 'subdomain' | 'file';
  /** NexusCore brand id, null for a null source brand (or mode `none`); throws ItemRejectedError when unmapped. */
  resolve(sourceBrandId: string | number | null | undefined): string | null;
}

export interface MapContext {
  /** `create` for a first send; `update` for a done item whose source changed (send a PATCH to `targetId`). */
  mode: 'create' | 'update';
  /** The mapped NexusCore id, set when mode is `update`. */
  targetId?: string;
  brands: BrandResolver;
}

export type ParseResult<R> = { ok: true; record: R } | { ok: false; reason: string };

export interface JobDefinition<R = any> {
  /** Unique, kebab-case: `zendesk-tickets`. The item key is `<name>:<key(record)>`. */
  name: string;
  /** Scopes the credential must grant before the first item is sent. */
  scopes: Scope[];
  /** Jobs whose items must be done first (their ids are resolved through `refs`). */
  dependsOn?: string[];
  /**
   * The NexusCore resource collection (`tickets`, `users`, `organizations`):
   * used to settle an unknown outcome with `GET /v1/<resource>?external_id=`.
   */
  resource: string;
  /** Raw export object in, typed record or a reason out. Pure. */
  parse(raw: unknown): ParseResult<R>;
  /** Extra checks on a parsed record: a reason, or undefined when valid. Pure. */
  validate?(record: R): string | undefined;
  /** The record's source id, as a string. */
  key(record: R): string;
  /**
   * Staged for lookup only, never sent (e.g. `zendesk-brands`, read by the
   * engine's brand resolver with `store.iterateRecords`): `run` skips it.
   */
  stageOnly?: boolean;
  /** The request for this record. Pure: no I/O. May throw MissingReferenceError or ItemRejectedError. */
  map(record: R, refs: Refs, ctx: MapContext): RequestSpec;
}
