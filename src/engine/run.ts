/**
 * The run loop: pages due items out of the store, maps each with its job,
 * sends it through the sender (workspace gate, auth, one send), classifies
 * the result with the outcome table and writes outcomes back in batched
 * transactions. The engine owns every decision: retry, wait, fail, stop.
 *
 * Exactly once at the target rests on three things, in this order:
 * 1. the item key is the Idempotency-Key of its create, and is staged before
 *    anything is sent; a re-send after a crash carries the same key and the
 *    same body, so the server replays instead of creating;
 * 2. the item key is also the `external_id`: a workspace that enforces its
 *    uniqueness answers 409 duplicate_external_id, and the item adopts the
 *    existing record;
 * 3. a send whose outcome is unknown and whose key may have expired (first
 *    sent longer ago than the key lifetime less a margin) is settled with
 *    `GET /v1/<resource>?external_id=<key>` before any new send; so is a
 *    create whose key another store sent with another body (422
 *    idempotency_key_reused), which goes under a new key only if the lookup
 *    finds no record.
 */
import { setMaxListeners } from 'node:events';
import type { Clock } from '../clock.js';
import { AuthError, UsageError } from '../errors.js';
import type { NetworkError } from '../http/client.js';
import type { TokenProvider } from '../auth/provider.js';
import { redact } from '../auth/redact.js';
import type { Gate } from '../limits/gate.js';
import type { ClaimedItem, Outcome as StoreOutcome, Store } from '../store/index.js';
import type { LoadedJob } from '../sources/job-loader.js';
import { type BrandResolver, ItemRejectedError, type JobDefinition, MissingReferenceError, type RateWindow, type RequestSpec } from '../types.js';
import { createRunMetrics, type RunMetrics } from './metrics.js';
import { classify, classifyResponse, errorBodyFields } from './outcome.js';
import { createRefs } from './refs.js';
import type { Sender, SenderEvent, SendResult, SendSpec } from './sender.js';
import { createSendLedger } from './send-ledger.js';

/** How long the server remembers an Idempotency-Key (docs/nexuscore-api.md). */
export const KEY_LIFETIME_MS = 24 * 3_600_000;
/** Settle by lookup once a first send is older than the key lifetime less this margin. */
export const KEY_LIFETIME_MARGIN_MS = 3_600_000;
/** A parent still pending: look again after this long. */
const WAIT_MS = 1_000;
/** Response bodies kept with a failed item, at most. */
const MAX_SAVED_BODY = 4_096;

export type EngineEvent =
  | { type: 'job_start'; job: string; pending: number }
  | { type: 'job_end'; job: string }
  | { type: 'item'; job: string; key: string; outcome: StoreOutcome['kind']; reason?: string }
  | { type: 'notice'; message: string }
  /** A token was refreshed: ahead of expiry, after expiry, or after the server rejected it. */
  | { type: 'token'; reason: 'expiring' | 'expired' | 'rejected' }
  | SenderEvent;

export interface RunEngineOptions {
  store: Store;
  /** The jobs to run, in dependency order. */
  jobs: readonly LoadedJob[];
  sender: Sender;
  gate: Gate;
  auth: TokenProvider;
  clock: Clock;
  brands: BrandResolver;
  runId: string;
  /** The quota windows in force: the send log keeps the longest one's worth. */
  windows: readonly RateWindow[];
  maxAttempts: number;
  /** Outstanding items at most (claimed, queued or in flight): backpressure. */
  maxOutstanding: number;
  /** Soft stop: stop claiming, let sends on the wire finish, release the rest. */
  stopSignal: AbortSignal;
  onEvent?: (e: EngineEvent) => void;
  random?: () => number;
  /** Flush outcomes at least this often (ms) and every `flushEvery` outcomes. */
  flushMs?: number;
  flushEvery?: number;
  keyLifetimeMs?: number;
}

export interface EngineResult {
  stopped: 'completed' | 'interrupted' | 'auth_failed';
  authError?: AuthError;
  metrics: ReturnType<RunMetrics['totals']>;
  retries: number;
  itemsDone: number;
}

export async function runEngine(opts: RunEngineOptions): Promise<EngineResult> {
  const { store, sender, clock, stopSignal } = opts;
  const emit = opts.onEvent ?? (() => {});
  const random = opts.random ?? Math.random;
  const flushEvery = opts.flushEvery ?? 256;
  const keyLifetime = opts.keyLifetimeMs ?? KEY_LIFETIME_MS;
  const metrics = createRunMetrics(opts.runId);
  const refs = createRefs(store);
  let buffer: StoreOutcome[] = [];
  const longestWindowMs = Math.max(0, ...opts.windows.map((w) => w.windowMs));
  let retries = 0;
  let authError: AuthError | undefined;
  // Aborted on soft stop or on an auth failure: releases items still waiting for their turn.
  const waitCtl = new AbortController();
  // The first error that stops the run (thrown once every item in flight is back).
  let fatal: unknown;
  // Every queued send listens on this one signal: as many listeners as items outstanding.
  setMaxListeners(0, waitCtl.signal);
  const onStop = () => waitCtl.abort(stopSignal.reason);
  stopSignal.addEventListener('abort', onStop, { once: true });

  let savedLimiter: string | undefined;
  const flush = () => {
    const outcomes = buffer;
    buffer = [];
    // Send times live in the send log; the snapshot keeps what the adaptive layer learned.
    // (The adaptive state alone: gate.snapshot() would also copy every send time of the longest window.)
    const limiter = JSON.stringify({ adaptive: opts.gate.adaptive.state() });
    // One transaction for all of it: each commit writes whole pages to the WAL.
    store.recordOutcomes({
      outcomes,
      metrics: metrics.drain(),
      ...(limiter !== savedLimiter ? { limiterState: limiter } : {}),
      pruneSendsBefore: clock.now() - longestWindowMs,
    });
    savedLimiter = limiter;
  };
  const flushTimer = setInterval(() => flush(), opts.flushMs ?? 250);
  flushTimer.unref();

  const record = (job: JobDefinition, item: ClaimedItem, o: StoreOutcome, reason?: string) => {
    buffer.push(o);
    if (o.kind === 'done') metrics.itemDone(clock.now());
    if (o.kind === 'retry' && o.countsAsAttempt) retries++;
    emit(reason ? { type: 'item', job: job.name, key: item.key, outcome: o.kind, reason } : { type: 'item', job: job.name, key: item.key, outcome: o.kind });
    if (buffer.length >= flushEvery) flush();
  };

  const sendOptions = { waitSignal: waitCtl.signal };

  async function processItem(job: JobDefinition, item: ClaimedItem): Promise<void> {
    let spec: RequestSpec;
    try {
      spec = mapItem(job, item, refs, opts.brands);
    } catch (err) {
      if (isMissingReference(err)) {
        const all = [err, ...(err.also ?? [])];
        if (all.some((e) => e.state === 'pending' || e.state === 'inflight')) {
          return record(job, item, { id: item.id, kind: 'wait', reason: err.message, nextAttemptAt: clock.now() + WAIT_MS });
        }
        const reason = parentReason(all, job);
        return record(job, item, { id: item.id, kind: 'failed', unsent: true, message: reason }, reason);
      }
      const reason = isItemRejected(err) ? err.message : `the job's map threw: ${(err as Error).message}`;
      return record(job, item, { id: item.id, kind: 'failed', unsent: true, message: reason }, reason);
    }
    if (waitCtl.signal.aborted) return record(job, item, { id: item.id, kind: 'release' });

    try {
      // (3) above: the first send may have landed and its key may be gone by now.
      if (item.mode === 'create' && item.sends > 1 && clock.now() - item.firstSentAt > keyLifetime - KEY_LIFETIME_MARGIN_MS) {
        const settled = await settleByLookup(job, item);
        if (settled.found) return record(job, item, { id: item.id, kind: 'done', targetId: settled.found });
        if (settled.failed) return applyResult(job, item, settled.failed, `settling ${item.key} by lookup (GET /v1/${job.resource}?external_id=) failed`);
      }
      // Built field by field: adding a property to a spread copy takes V8's slow path (~1 us an item).
      const send: SendSpec = { method: spec.method, path: spec.path, idempotencyKey: idempotencyKey(item) };
      if (spec.body !== undefined) send.body = spec.body;
      const result = await sender.send(send, undefined, sendOptions);
      if (result.response?.status === 422 && errorBodyFields(result.response.body).errorCode === 'idempotency_key_reused') return await settleReusedKey(job, item, send.idempotencyKey!);
      if (result.response?.status === 404 && send.method === 'POST' && send.path === `/v1/${job.resource}`) {
        // The collection itself is missing: every create would fail the same way, so the run stops instead of
        // failing each item (a wrong --base-url failed a whole migration, item by item). A 404 created nothing.
        // Stopped as any fatal error stops it: the run throws it once every item is back.
        fatal ??= new UsageError(
          `POST ${send.path} answered 404: there is no such endpoint at the --base-url, so nothing can be created there. Check --base-url (NEXUSCORE_BASE_URL): it must be NexusCore's API root, without /v1 (for example https://api.support.nexuscore.cloud). No item was failed; run again once it is right.`,
        );
        waitCtl.abort(fatal);
        return record(job, item, { id: item.id, kind: 'release' });
      }
      applyResult(job, item, result);
    } catch (err) {
      if (err instanceof AuthError) {
        authError ??= err;
        waitCtl.abort(err);
        return record(job, item, { id: item.id, kind: 'release' });
      }
      if (waitCtl.signal.aborted) return record(job, item, { id: item.id, kind: 'release' });
      throw err;
    }
  }

  /** Found: the record exists, adopt it. Neither: it does not, send. Failed: the lookup itself did not answer. */
  async function settleByLookup(job: JobDefinition, item: ClaimedItem): Promise<{ found?: string; failed?: SendResult }> {
    const res = await sender.send(
      { method: 'GET', path: `/v1/${job.resource}?external_id=${encodeURIComponent(item.key)}` },
      undefined,
      { waitSignal: waitCtl.signal },
    );
    const list = res.response?.status === 200 ? (res.response.body as Record<string, unknown> | null)?.[job.resource] : undefined;
    if (!Array.isArray(list)) return { failed: res };
    const hit = list.find((r) => r && typeof r === 'object' && (r as { external_id?: unknown }).external_id === item.key) as { id?: unknown } | undefined;
    return typeof hit?.id === 'string' ? { found: hit.id } : {};
  }

  /**
   * 422 idempotency_key_reused: the key went out within the server's 24 hours with another body. Another
   * store (or an earlier migration of the same export with other options: a brand map, a job edited) sent
   * this record, and may have created it. An update is sent again under a new key (applying it twice changes
   * nothing); a create is looked up by external_id and adopted if it exists, sent under a new key if not.
   */
  async function settleReusedKey(job: JobDefinition, item: ClaimedItem, key: string): Promise<void> {
    const code = 'idempotency_key_reused';
    const what = `422 ${code}: the Idempotency-Key ${key} was sent within the last 24 hours with another body (by another store, or an earlier migration of this export with other options)`;
    const again = (message: string) => record(job, item, { id: item.id, kind: 'retry', nextAttemptAt: clock.now(), countsAsAttempt: true, newKey: true, status: 422, code, message }, message);
    if (item.mode === 'update') return again(`${what}; the update is sent again under a new key`);
    const settled = await settleByLookup(job, item);
    if (settled.found) return record(job, item, { id: item.id, kind: 'done', targetId: settled.found });
    if (settled.failed) {
      return applyResult(job, item, settled.failed, `${what}; looking it up (GET /v1/${job.resource}?external_id=) failed`, 'That send may have created the record, so sending it under a new key could create a duplicate.');
    }
    return again(`${what}; NexusCore holds no record with external_id ${item.key}, so it is sent again under a new key`);
  }

  /**
   * `lookup` names a settling lookup whose answer this is: it never completes the item by itself. `why` says
   * why sending again is not safe without it.
   */
  function applyResult(
    job: JobDefinition,
    item: ClaimedItem,
    result: SendResult,
    lookup?: string,
    why = 'Its first send is older than the server keeps idempotency keys, so sending again could create a duplicate.',
  ): void {
    const now = clock.now();
    if (result.error) return applyNetworkError(job, item, result.error);
    const res = result.response!;
    const { verdict, errorCode } = classifyResponse(res, now, { attempt: item.attempts + 1, maxAttempts: opts.maxAttempts, random: random(), authReplayed: result.authReplayed });
    if (lookup && (verdict.kind === 'done' || verdict.kind === 'adopt' || verdict.kind === 'failed' || verdict.kind === 'stop_scope')) {
      // Sending now could duplicate a record the lost first send created: a person decides.
      const message = `${lookup}: ${res.status}${errorCode ? ` ${errorCode}` : ''}. ${why} Check NexusCore for external_id ${item.key} (the lookup needs the ${job.resource.replace(/s$/, '')} read scope), then run nexus-backfill retry ${job.name}.`;
      return record(job, item, { id: item.id, kind: 'failed', status: res.status, ...(errorCode ? { code: errorCode } : {}), message }, message);
    }
    // The failure fields, built only on the paths that store them.
    const err = (): { status: number; code?: string } => (errorCode ? { status: res.status, code: errorCode } : { status: res.status });
    switch (verdict.kind) {
      case 'done': {
        const id = item.mode === 'update' ? item.targetId : (res.body as { id?: unknown } | null)?.id;
        if (typeof id !== 'string' || id === '') {
          const message = `${res.status} without a record id in the response: cannot map ${item.key} to a NexusCore record`;
          return record(job, item, { id: item.id, kind: 'failed', ...err(), message, body: bodyText(res.body) }, message);
        }
        return record(job, item, { id: item.id, kind: 'done', targetId: id });
      }
      case 'adopt':
        return record(job, item, { id: item.id, kind: 'done', targetId: verdict.existingId });
      case 'retry':
        return record(job, item, { id: item.id, kind: 'retry', nextAttemptAt: now + verdict.delayMs, countsAsAttempt: verdict.countsAsAttempt, ...err(), message: verdict.reason }, verdict.reason);
      case 'rate_limited':
        return record(job, item, { id: item.id, kind: 'retry', nextAttemptAt: now + verdict.delayMs, countsAsAttempt: false, ...err(), message: verdict.reason });
      case 'failed':
        return record(job, item, { id: item.id, kind: 'failed', ...err(), message: verdict.reason, ...(verdict.saveBody ? { body: bodyText(res.body) } : {}) }, verdict.reason);
      case 'dead':
        return record(job, item, { id: item.id, kind: 'dead', ...err(), message: verdict.reason }, verdict.reason);
      case 'key_reused':
        // Settled by settleReusedKey() after a send; reaching here (an answer to a lookup) leaves it to a person.
        return record(job, item, { id: item.id, kind: 'failed', ...err(), message: verdict.reason, body: bodyText(res.body) }, verdict.reason);
      case 'auth':
      case 'stop_scope': {
        // The sender replays a 401 once itself; reaching here means a person must act.
        const e = new AuthError(
          redact(`${item.key}: ${verdict.reason}. ${verdict.kind === 'stop_scope' ? 'The credential lacks a scope this job needs: ask a workspace admin to grant it, then run again.' : 'Check the credential, then run again.'}`),
          verdict.kind === 'stop_scope' ? 'insufficient_scope' : 'token_rejected',
        );
        authError ??= e;
        waitCtl.abort(e);
        return record(job, item, { id: item.id, kind: 'release' });
      }
    }
  }

  function applyNetworkError(job: JobDefinition, item: ClaimedItem, error: NetworkError): void {
    const verdict = classify({ networkError: error.kind, attempt: item.attempts + 1, maxAttempts: opts.maxAttempts, random: random() });
    const message = redact(`${verdict.kind === 'failed' || verdict.kind === 'dead' || verdict.kind === 'retry' ? verdict.reason : error.kind}: ${error.message}`);
    if (verdict.kind === 'retry') return record(job, item, { id: item.id, kind: 'retry', nextAttemptAt: clock.now() + verdict.delayMs, countsAsAttempt: true, code: error.kind, message }, message);
    if (verdict.kind === 'dead') return record(job, item, { id: item.id, kind: 'dead', code: error.kind, message }, message);
    return record(job, item, { id: item.id, kind: 'failed', code: error.kind, message }, message);
  }

  // The send log in blocks of reserved slots: one committed write covers many sends (see send-ledger.ts).
  const ledger = createSendLedger({ windows: opts.windows, log: (at, n) => store.recordSend(at, n) });
  // Sender events feed the per-second metrics.
  const onSenderEvent = (e: SenderEvent) => {
    if (e.type === 'send') {
      // Before the request leaves: a run resumed after kill -9 knows every send the server still counts
      // (covered by a committed block whose time is no earlier than this start).
      ledger.onSend(e.startedAt);
      metrics.send(e.startedAt);
    }
    else if (e.type === 'response') metrics.response(clock.now(), e.status, e.latencyMs);
    else if (e.type === 'network_error') metrics.response(clock.now(), undefined);
    emit(e);
  };
  const unsubscribe = subscribe(sender, onSenderEvent);

  // Items claimed and not yet recorded. The loop sleeps on `settled` until one finishes.
  let outstanding = 0;
  let wake: (() => void) | undefined;
  const settled = () => new Promise<void>((resolve) => (wake = resolve));
  const track = (p: Promise<void>) => {
    outstanding++;
    p.then(() => {
      outstanding--;
      wake?.();
      wake = undefined;
    });
  };
  const drain = async () => {
    while (outstanding > 0) await settled();
  };
  // Claim in pages of at least half the room: a claim is a write transaction, and claiming the one
  // slot each response frees would spend more CPU in SQLite than in sending.
  const minPage = Math.max(1, Math.floor(opts.maxOutstanding / 2));

  try {
    store.recoverInflight(opts.jobs.map((j) => j.job.name));
    for (const { job } of opts.jobs) {
      if (waitCtl.signal.aborted) break;
      emit({ type: 'job_start', job: job.name, pending: store.counts([job.name])[job.name]?.pending ?? 0 });
      for (;;) {
        if (waitCtl.signal.aborted || fatal) break;
        const room = opts.maxOutstanding - outstanding;
        if (room < minPage && outstanding > 0) {
          await settled();
          continue;
        }
        const page = store.claimDue(job.name, room, clock.now());
        if (page.length > 0) {
          for (const item of page) {
            track(
              processItem(job, item).catch((err) => {
                fatal ??= err;
                waitCtl.abort(err);
              }),
            );
          }
          continue;
        }
        if (outstanding > 0) {
          await settled();
          continue;
        }
        // Nothing in flight: make the buffered retries visible, then sleep until the next one is due.
        flush();
        const next = store.nextDueAt(job.name);
        if (next === null) break;
        await clock.sleep(Math.max(1, next - clock.now()), waitCtl.signal).catch(() => {});
      }
      await drain();
      flush();
      emit({ type: 'job_end', job: job.name });
    }
  } finally {
    await drain();
    clearInterval(flushTimer);
    unsubscribe();
    try {
      ledger.close();
    } catch {
      // The unused reservations stay logged: a resumed run only counts a few sends too many.
    }
    stopSignal.removeEventListener('abort', onStop);
    flush();
  }
  if (fatal) throw fatal;
  const totals = metrics.totals();
  return {
    stopped: authError ? 'auth_failed' : stopSignal.aborted ? 'interrupted' : 'completed',
    ...(authError ? { authError } : {}),
    metrics: totals,
    retries,
    itemsDone: totals.itemsDone,
  };
}

/**
 * A create's key is the item key. A PATCH of a changed record gets a key of
 * its own per body (`<key>@<hash>`): reusing the create's key with another
 * method and body would be refused as idempotency_key_reused, and each
 * distinct update must be applied once. After a failure the server keeps
 * under its key (a 4xx), an item sent again (retry, or a fixed record
 * re-staged) carries its key generation (`#<n>`, see ClaimedItem.generation):
 * the old key would replay the old failure for 24 h, or be refused for the
 * new body.
 */
export function idempotencyKey(item: Pick<ClaimedItem, 'key' | 'mode' | 'hash' | 'generation'>): string {
  const gen = item.generation > 0 ? `#${item.generation}` : '';
  return item.mode === 'create' ? `${item.key}${gen}` : `${item.key}@${item.hash.slice(0, 16)}${gen}`;
}

/** Maps a claimed item to its request; the engine, not the job, fixes the external_id of a create to the item key. */
export function mapItem(job: JobDefinition, item: ClaimedItem, refs: ReturnType<typeof createRefs>, brands: BrandResolver): RequestSpec {
  const parsed = job.parse(JSON.parse(item.payload));
  if (!parsed.ok) throw new ItemRejectedError(`the staged record no longer parses: ${parsed.reason}`);
  const spec = job.map(parsed.record, refs, item.targetId ? { mode: item.mode, targetId: item.targetId, brands } : { mode: item.mode, brands });
  if (item.mode === 'create' && spec.method === 'POST' && spec.body && typeof spec.body === 'object' && !Array.isArray(spec.body)) {
    return { ...spec, body: { ...(spec.body as Record<string, unknown>), external_id: item.key } };
  }
  return spec;
}

function parentReason(all: readonly MissingReferenceError[], job: JobDefinition): string {
  // One parent often fills several fields (requester, submitter, comment authors): name it once.
  const parents = new Map<string, { err: MissingReferenceError; fields: string[] }>();
  for (const err of all) {
    const k = `${err.job}:${err.sourceId}`;
    const p = parents.get(k);
    if (p) p.fields.push(err.field);
    else parents.set(k, { err, fields: [err.field] });
  }
  const facts: string[] = [];
  const fixes: string[] = [];
  for (const [k, { err, fields }] of parents) {
    facts.push(`${fields.join(', ')} ${fields.length > 1 ? 'point' : 'points'} at ${k}, which is ${err.state === 'absent' ? 'absent from the staged export' : err.state}`);
    fixes.push(
      err.state === 'absent'
        ? `stage the ${err.job} export that contains ${err.sourceId} (nexus-backfill load ${err.job} FILE)`
        : `fix ${k} (nexus-backfill export-failed ${err.job}) and run nexus-backfill retry ${err.job}`,
    );
  }
  return `${facts.join('; ')}. To send it: ${[...new Set(fixes)].join('; ')}; then nexus-backfill retry ${job.name}`;
}

/*
 * Job files written by users import nexus-backfill themselves, and a second
 * copy of the module (source vs. built) has its own classes, so these check
 * the name and shape rather than instanceof.
 */
function isMissingReference(err: unknown): err is MissingReferenceError {
  return err instanceof MissingReferenceError || (err instanceof Error && err.name === 'MissingReferenceError' && 'state' in err && 'job' in err);
}

function isItemRejected(err: unknown): err is ItemRejectedError {
  return err instanceof ItemRejectedError || (err instanceof Error && err.name === 'ItemRejectedError');
}

function bodyText(body: unknown): string | undefined {
  if (body === undefined || body === null || body === '') return undefined;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return redact(text.length > MAX_SAVED_BODY ? `${text.slice(0, MAX_SAVED_BODY)}…` : text);
}

/** The sender takes one event callback at creation; the engine listens through this hook. */
function subscribe(sender: Sender, fn: (e: SenderEvent) => void): () => void {
  return sender.subscribe(fn);
}
