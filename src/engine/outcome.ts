/**
 * The outcome table: what one send's result means for its item. One pure
 * function over one table; the engine applies the verdict (store writes,
 * sleeps, stopping the run) and nothing else decides.
 *
 * Vocabulary (src/types.ts): a send is any request put on the wire; an
 * attempt is a send that failed in a way that counts towards --max-attempts.
 * A 429 is a send, never a failed attempt.
 */
import type { HttpResponse, NetworkErrorKind } from '../http/client.js';
import { retryAfterFromHeaders } from '../http/headers.js';
import { type BackoffOptions, RETRY_BACKOFF, retryDelay } from '../limits/backoff.js';

export type Outcome =
  | { kind: 'done' }
  /** 409 duplicate_external_id: the record exists; the item is done with that id. */
  | { kind: 'adopt'; existingId: string }
  | { kind: 'retry'; delayMs: number; countsAsAttempt: boolean; reason: string }
  | { kind: 'rate_limited'; delayMs: number; reason: string }
  /** The API refused the record; never retried by itself. `saveBody`: keep the response body with the error. */
  | { kind: 'failed'; reason: string; saveBody: boolean }
  /** Retryable errors outlasted --max-attempts. */
  | { kind: 'dead'; reason: string }
  | { kind: 'auth'; action: 'refresh_and_replay' | 'stop'; reason: string }
  /** 403 insufficient_scope: stop the run (exit 3). */
  | { kind: 'stop_scope'; reason: string }
  /**
   * 422 idempotency_key_reused: the key was sent within the server's 24 hours with another body, by another
   * store or an earlier migration of the same export with other options (or, for a body that changed between
   * this item's own tries, a bug). The engine settles it: a create looks its record up by external_id.
   */
  | { kind: 'key_reused'; reason: string };

export interface ClassifyInput {
  /** HTTP status; absent when the send ended in a network error. */
  status?: number;
  /** `error.code` of the API's error body (`validation_failed`, ...). */
  errorCode?: string;
  /** `error.existing_id` of a 409 duplicate_external_id. */
  existingId?: string;
  networkError?: NetworkErrorKind;
  /** Retry-After in ms, on any status that sent it. */
  retryAfterMs?: number;
  /** The item's failed attempts so far, this one included (1 for the first failure). */
  attempt: number;
  maxAttempts: number;
  /** Uniform in [0, 1): the jitter draw, injected to keep this pure. */
  random: number;
  /** This send already was the replay after a 401 (a second 401 stops the run). */
  authReplayed?: boolean;
  /** Human detail for reasons: the server's message, field errors. */
  detail?: string;
  backoff?: BackoffOptions;
}

type Action = 'done' | 'adopt' | 'retry' | 'retry_later' | 'rate_limited' | 'fail' | 'fail_body' | 'key_reused' | 'auth' | 'stop_scope';

interface Rule {
  /** Statuses matched: a list or an inclusive range. Absent for network errors. */
  status?: readonly number[] | { from: number; to: number };
  code?: string;
  /** Network error kinds matched; '*' for any. */
  network?: readonly NetworkErrorKind[] | '*';
  action: Action;
}

/** First match wins: specific codes before their status, lists before ranges. */
export const OUTCOME_TABLE: readonly Rule[] = [
  { status: { from: 200, to: 299 }, action: 'done' },
  { status: [401], action: 'auth' },
  { status: [403], code: 'insufficient_scope', action: 'stop_scope' },
  { status: [403], code: 'brand_forbidden', action: 'fail' },
  { status: [409], code: 'duplicate_external_id', action: 'adopt' },
  { status: [409], code: 'idempotency_key_in_use', action: 'retry_later' },
  { status: [422], code: 'idempotency_key_reused', action: 'key_reused' },
  { status: [429], action: 'rate_limited' },
  { status: [408, 425, 500, 502, 503, 504], action: 'retry' },
  { status: [400, 404, 413, 422], action: 'fail_body' },
  { status: { from: 500, to: 599 }, action: 'retry' },
  { status: { from: 300, to: 499 }, action: 'fail' },
  { network: ['body_too_large'], action: 'fail' },
  { network: '*', action: 'retry' },
];

function matches(rule: Rule, input: ClassifyInput): boolean {
  if (input.status === undefined) {
    if (!rule.network) return false;
    return rule.network === '*' || (input.networkError !== undefined && rule.network.includes(input.networkError));
  }
  if (!rule.status) return false;
  const s = input.status;
  const inStatus = Array.isArray(rule.status) ? rule.status.includes(s) : s >= (rule.status as { from: number }).from && s <= (rule.status as { to: number }).to;
  return inStatus && (rule.code === undefined || rule.code === input.errorCode);
}

function what(input: ClassifyInput): string {
  const head = input.status !== undefined ? `${input.status}${input.errorCode ? ` ${input.errorCode}` : ''}` : `network error (${input.networkError ?? 'unknown'})`;
  return input.detail ? `${head}: ${input.detail}` : head;
}

const DONE: Outcome = Object.freeze({ kind: 'done' });

export function classify(input: ClassifyInput): Outcome {
  const rule = OUTCOME_TABLE.find((r) => matches(r, input));
  // The common case needs no reason text.
  if (rule?.action === 'done') return DONE;
  const reason = what(input);
  const delay = () => retryDelay(input.attempt, input.random, input.backoff ?? RETRY_BACKOFF, input.retryAfterMs);
  const retryOrDead = (): Outcome =>
    input.attempt >= input.maxAttempts
      ? { kind: 'dead', reason: `${reason} (gave up after ${input.attempt} attempts; --max-attempts is ${input.maxAttempts})` }
      : { kind: 'retry', delayMs: delay(), countsAsAttempt: true, reason };

  switch (rule?.action ?? 'fail') {
    case 'adopt':
      return input.existingId
        ? { kind: 'adopt', existingId: input.existingId }
        : { kind: 'failed', reason: `${reason} (the 409 named no existing_id, so the existing record cannot be adopted)`, saveBody: true };
    case 'retry':
    case 'retry_later':
      // 409 idempotency_key_in_use counts too: a first request that never finishes must not hold the item forever.
      return retryOrDead();
    case 'rate_limited':
      return { kind: 'rate_limited', delayMs: delay(), reason };
    case 'fail_body':
      return { kind: 'failed', reason, saveBody: true };
    case 'key_reused':
      return { kind: 'key_reused', reason: `${reason}: this Idempotency-Key was sent within the last 24 hours with another body` };
    case 'auth':
      return input.authReplayed
        ? { kind: 'auth', action: 'stop', reason: `${reason} (again, after a fresh token)` }
        : { kind: 'auth', action: 'refresh_and_replay', reason };
    case 'stop_scope':
      return { kind: 'stop_scope', reason };
    case 'fail':
      return {
        kind: 'failed',
        reason: input.status !== undefined && input.status >= 300 && input.status < 400 ? `${reason} (a redirect, which the runner never follows; check --base-url)` : reason,
        saveBody: input.status !== undefined,
      };
  }
}

/** The API's error body: `{"error": {"code", "message", "existing_id", "fields"}}` (or RFC 6749's `{"error": "..."}`). */
export function errorBodyFields(body: unknown): { errorCode?: string; existingId?: string; detail?: string } {
  if (!body || typeof body !== 'object') return {};
  const e = (body as { error?: unknown }).error;
  if (typeof e === 'string') return { errorCode: e };
  if (!e || typeof e !== 'object') return {};
  const err = e as { code?: unknown; message?: unknown; existing_id?: unknown; fields?: unknown };
  const fields =
    err.fields && typeof err.fields === 'object'
      ? Object.entries(err.fields as Record<string, unknown>)
          .map(([k, v]) => `${k}: ${String(v)}`)
          .join(', ')
      : undefined;
  const message = typeof err.message === 'string' ? err.message : undefined;
  // The API's message often names the fields already; say them once.
  const named = message !== undefined && fields !== undefined && Object.keys(err.fields as object).every((k) => message.includes(k));
  const detail = [message, fields && !named ? `(${fields})` : undefined].filter(Boolean).join(' ');
  const out: { errorCode?: string; existingId?: string; detail?: string } = {};
  if (typeof err.code === 'string') out.errorCode = err.code;
  if (typeof err.existing_id === 'string') out.existingId = err.existing_id;
  if (detail) out.detail = detail;
  return out;
}

/**
 * Whether the response may carry a header that steers pacing (Retry-After,
 * RateLimit*, X-RateLimit-*): a cheap scan of the names, so the parsers in
 * src/http/headers.ts (a case-insensitive search per header they read) run
 * only when one can be there. Every such name starts with r or x.
 */
export function maySteer(headers: HttpResponse['headers']): boolean {
  for (const k in headers) {
    const c = k.charCodeAt(0) | 32;
    if (c !== 114 && c !== 120) continue;
    const l = k.toLowerCase();
    if (l === 'retry-after' || l.startsWith('ratelimit') || l.startsWith('x-ratelimit')) return true;
  }
  return false;
}

/** The response-derived part of ClassifyInput. */
export function responseFacts(res: Pick<HttpResponse, 'status' | 'headers' | 'body'>, now: number): Pick<ClassifyInput, 'status' | 'errorCode' | 'existingId' | 'retryAfterMs' | 'detail'> {
  return classifyInput(res, now, undefined);
}

/**
 * classify() of a response: the input built in one object. (Spreading the
 * facts into a second object cost ~3 us per response, more than the rest of
 * the classification.)
 */
export function classifyResponse(res: Pick<HttpResponse, 'status' | 'headers' | 'body'>, now: number, attempt: Pick<ClassifyInput, 'attempt' | 'maxAttempts' | 'random' | 'authReplayed'>): { verdict: Outcome; errorCode?: string } {
  const input = classifyInput(res, now, attempt) as ClassifyInput;
  return input.errorCode === undefined ? { verdict: classify(input) } : { verdict: classify(input), errorCode: input.errorCode };
}

function classifyInput(
  res: Pick<HttpResponse, 'status' | 'headers' | 'body'>,
  now: number,
  attempt: Pick<ClassifyInput, 'attempt' | 'maxAttempts' | 'random' | 'authReplayed'> | undefined,
): Partial<ClassifyInput> {
  const input: Partial<ClassifyInput> = { status: res.status };
  if (attempt) {
    input.attempt = attempt.attempt;
    input.maxAttempts = attempt.maxAttempts;
    input.random = attempt.random;
    if (attempt.authReplayed !== undefined) input.authReplayed = attempt.authReplayed;
  }
  const body = errorBodyFields(res.body);
  if (body.errorCode !== undefined) input.errorCode = body.errorCode;
  if (body.existingId !== undefined) input.existingId = body.existingId;
  if (body.detail !== undefined) input.detail = body.detail;
  if (maySteer(res.headers)) {
    const retryAfterMs = retryAfterFromHeaders(res.headers, now);
    if (retryAfterMs !== undefined) input.retryAfterMs = retryAfterMs;
  }
  return input;
}
