/**
 * The checkpoint store's public types. The store is the only module that
 * speaks SQL; the engine, `load`, `status` and reports use these shapes.
 */
import type { ItemState } from '../types.js';

export interface OpenStoreOptions {
  /**
   * `writer` takes the one-writer lock (run, load, retry); `reader` takes no
   * lock and cannot write (status, report, export-failed).
   */
  mode: 'writer' | 'reader';
  /** What the writer is doing, shown to a second writer that is refused (`run`, `load`). */
  command?: string;
  /**
   * Refuse to create the store (a writer creates it by default). For writers that only work on what was
   * staged (run, retry): a mistyped --db would otherwise make a new, empty store and report it finished.
   */
  mustExist?: boolean;
  /** How long a statement waits for a busy database before failing, ms (default 5000). */
  busyTimeoutMs?: number;
  /** Clock for timestamps (default Date.now). */
  now?: () => number;
  /**
   * Caps the database size in pages (SQLite `max_page_count`); tests use it to
   * provoke a full disk. Leave unset otherwise.
   */
  maxPageCount?: number;
}

/** One record of a load, ready to be staged: produced by src/sources. */
export interface StageRecord {
  /** The source id (`12345`); for an invalid line without a usable id, `!<file>:<line>`. */
  sourceId: string;
  /** The record JSON (UTF-8) to send, or the raw bytes of an invalid line. */
  payload: Uint8Array | string;
  /** Content hash of `payload`: equal hashes mean unchanged content. */
  hash: string;
  /** Why the record is invalid; undefined for a valid record. */
  reason?: string;
  /** 1-based line where the record starts. */
  line: number;
  /** 0-based element index in a JSON array or API page; undefined for NDJSON. */
  index?: number;
}

/** What staging did, per job. */
export interface StageCounts {
  new: number;
  unchanged: number;
  changed: number;
  invalid: number;
}

/** An item handed to the engine by `claimDue`; it is `inflight` in the store. */
export interface ClaimedItem {
  /** Store row id: pass it back in outcomes. */
  id: number;
  /** `<job>:<source id>`: the Idempotency-Key and the external_id. */
  key: string;
  job: string;
  sourceId: string;
  /** The record JSON to send, exactly as staged (or as first sent, for a re-send). */
  payload: string;
  /** Content hash of `payload`: differs between a create and a later update. */
  hash: string;
  /** `update` when the record already exists in NexusCore at `targetId` (send a PATCH). */
  mode: 'create' | 'update';
  targetId: string | null;
  /** Failed attempts of this body so far (429s excluded). */
  attempts: number;
  /** Sends of this body, including the one this claim is for. */
  sends: number;
  /**
   * When this body was first claimed for sending (ms). Set on a re-send after
   * a crash: the first request may have reached the server, so the same body
   * and key must be used, and an old first send (> 24 h) means the key may
   * have expired (settle with `GET ?external_id=`).
   */
  firstSentAt: number;
  /**
   * Key generation: 0 until the item, after a failure the server remembers
   * under its Idempotency-Key (a 4xx other than 408, 409, 425 and 429),
   * goes back to pending through `retry` or a re-staged change; each such
   * return adds 1, and the engine sends under a new key (`<key>#<generation>`),
   * since the server would replay the old failure for 24 h, or refuse a
   * different body under the old key (422 idempotency_key_reused). Never
   * increased when the outcome of the last send is unknown (5xx, network,
   * crash): a new key there could create a duplicate.
   */
  generation: number;
  file: string | null;
  line: number | null;
  index: number | null;
}

/** The error the API (or the network) gave for an item. */
export interface ItemError {
  /** HTTP status; 0 or undefined for a network error. */
  status?: number;
  code?: string;
  message?: string;
  /** The response body, truncated by the caller; never a secret. */
  body?: string;
}

export type Outcome =
  /** Created (or updated): the item's target id, and so the id map; a change staged meanwhile becomes a pending update. */
  | { id: number; kind: 'done'; targetId: string }
  /** The API refused the record (4xx): never retried by itself. `unsent` when nothing was sent (map rejected it). */
  | ({ id: number; kind: 'failed'; unsent?: boolean } & ItemError)
  /**
   * Retry later. `countsAsAttempt` false for a 429 (a send, not a failed try). `newKey`: the next send goes
   * under a new key generation, as a fresh first send; only when no send of the old key can have created the
   * record (422 idempotency_key_reused, and a lookup found none) or for an update, which may land twice.
   */
  | ({ id: number; kind: 'retry'; nextAttemptAt: number; countsAsAttempt: boolean; newKey?: boolean } & ItemError)
  /** Retryable errors outlasted --max-attempts. */
  | ({ id: number; kind: 'dead' } & ItemError)
  /** Not sent: a parent is still pending. Back to pending without an attempt (and without the send the claim counted). */
  | { id: number; kind: 'wait'; reason: string; nextAttemptAt: number }
  /** Not sent (shutdown): back to pending exactly as before the claim. */
  | { id: number; kind: 'release' };

export interface ResponseCounts {
  '2xx': number;
  '4xx': number;
  '429': number;
  '5xx': number;
  network: number;
}

/** Counters of one second of one run. Recording the same second twice adds up. */
export interface MetricsRow {
  runId: string;
  /** Epoch seconds. */
  second: number;
  sends: number;
  responses: ResponseCounts;
  itemsDone: number;
  /** Counts per LATENCY_BUCKETS_MS bucket, plus the overflow bucket (length buckets + 1). */
  latency: number[];
}

export interface OutcomeBatch {
  outcomes: Outcome[];
  metrics?: MetricsRow[];
  /** Saved as by saveLimiterState, in the same transaction. */
  limiterState?: string;
  /** Prunes the send log as pruneSends(before), in the same transaction. */
  pruneSendsBefore?: number;
}

export type StateCounts = Record<ItemState, number>;

export interface RefState {
  state: ItemState | 'absent';
  /** Set whenever the record exists in NexusCore, including while an update of it is pending. */
  targetId?: string;
}

/** An item as kept, for export-failed and diagnostics. */
export interface StoredItem {
  id: number;
  key: string;
  job: string;
  sourceId: string;
  state: ItemState;
  mode: 'create' | 'update';
  /** The record JSON (for an invalid item, the raw line as UTF-8, invalid bytes replaced). */
  payload: string | null;
  reason: string | null;
  file: string | null;
  line: number | null;
  index: number | null;
  sends: number;
  attempts: number;
  targetId: string | null;
  error: ItemError | null;
  hasPendingChange: boolean;
  /** Key generation (see ClaimedItem.generation). */
  generation: number;
  updatedAt: number;
}

export interface RunInfo {
  id: string;
  startedAt: number;
  finishedAt: number | null;
  jobs: string[];
  options: unknown;
  outcome: string | null;
  summary: unknown;
  pid: number;
  host: string;
}

export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  since: number;
}

/** A `load` that started and did not finish (interrupted, failed, killed): what it was loading, and since when. */
export interface UnfinishedLoad {
  /** The files of that load, absolute, in its order. */
  files: string[];
  /** When it started (ms). */
  startedAt: number;
}
