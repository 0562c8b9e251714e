import { describe, expect, it } from 'vitest';
import { classify, errorBodyFields, responseFacts, type ClassifyInput } from '../../src/engine/outcome.js';

const base: ClassifyInput = { attempt: 1, maxAttempts: 8, random: 0.5 };
const c = (x: Partial<ClassifyInput>) => classify({ ...base, ...x });

describe('outcome table', () => {
  it.each([200, 201, 204, 299])('%i is done', (status) => {
    expect(c({ status })).toEqual({ kind: 'done' });
  });

  it('401: refresh and replay once, then stop', () => {
    expect(c({ status: 401, errorCode: 'token_expired' })).toMatchObject({ kind: 'auth', action: 'refresh_and_replay' });
    expect(c({ status: 401, authReplayed: true })).toMatchObject({ kind: 'auth', action: 'stop' });
  });

  it('403 insufficient_scope stops the run; brand_forbidden and other 403s fail the item', () => {
    expect(c({ status: 403, errorCode: 'insufficient_scope' })).toMatchObject({ kind: 'stop_scope' });
    expect(c({ status: 403, errorCode: 'brand_forbidden' })).toMatchObject({ kind: 'failed', reason: expect.stringContaining('brand_forbidden') });
    expect(c({ status: 403 })).toMatchObject({ kind: 'failed' });
  });

  it.each([408, 425, 500, 502, 503, 504, 507])('%i retries with backoff and counts as an attempt', (status) => {
    const o = c({ status, attempt: 3, random: 1 });
    expect(o).toEqual({ kind: 'retry', delayMs: 2000, countsAsAttempt: true, reason: String(status) });
  });

  it.each(['timeout', 'reset', 'refused', 'dns', 'tls', 'protocol', 'other'] as const)('network error %s retries', (networkError) => {
    expect(c({ networkError })).toMatchObject({ kind: 'retry', countsAsAttempt: true, reason: `network error (${networkError})` });
  });

  it('a body over the cap fails the item (retrying cannot shrink it)', () => {
    expect(c({ networkError: 'body_too_large' })).toMatchObject({ kind: 'failed', saveBody: false });
  });

  it('429 is rate_limited, never dead, whatever the attempt count', () => {
    expect(c({ status: 429, attempt: 8, retryAfterMs: 3000 })).toEqual({ kind: 'rate_limited', delayMs: 3000, reason: '429' });
    expect(c({ status: 429, attempt: 100 }).kind).toBe('rate_limited');
  });

  it('409 idempotency_key_in_use retries later; duplicate_external_id is done adopting existing_id', () => {
    expect(c({ status: 409, errorCode: 'idempotency_key_in_use' })).toMatchObject({ kind: 'retry' });
    expect(c({ status: 409, errorCode: 'duplicate_external_id', existingId: 'tkt_9' })).toEqual({ kind: 'adopt', existingId: 'tkt_9' });
    expect(c({ status: 409, errorCode: 'duplicate_external_id' })).toMatchObject({ kind: 'failed' });
    expect(c({ status: 409, errorCode: 'something_else' })).toMatchObject({ kind: 'failed' });
  });

  it.each([400, 404, 413, 422])('%i fails the item with the body saved', (status) => {
    expect(c({ status, errorCode: 'validation_failed', detail: 'subject: required' })).toEqual({
      kind: 'failed',
      reason: `${status} validation_failed: subject: required`,
      saveBody: true,
    });
  });

  it('422 idempotency_key_reused is left to the engine to settle (lookup, adopt or a new key), never retried as is', () => {
    const o = c({ status: 422, errorCode: 'idempotency_key_reused' });
    expect(o).toEqual({ kind: 'key_reused', reason: '422 idempotency_key_reused: this Idempotency-Key was sent within the last 24 hours with another body' });
  });

  it('other 3xx and 4xx fail; a redirect says it was not followed', () => {
    expect(c({ status: 302 })).toMatchObject({ kind: 'failed', reason: expect.stringContaining('never follows') });
    expect(c({ status: 418 })).toMatchObject({ kind: 'failed' });
    expect(c({ status: 410 })).toMatchObject({ kind: 'failed' });
  });

  it('Retry-After is honoured on any retryable status', () => {
    expect(c({ status: 503, retryAfterMs: 12_000 })).toMatchObject({ kind: 'retry', delayMs: 12_000 });
    expect(c({ status: 409, errorCode: 'idempotency_key_in_use', retryAfterMs: 0 })).toMatchObject({ kind: 'retry', delayMs: 250 });
  });

  it('bounded by maxAttempts: the last retryable failure is dead', () => {
    expect(c({ status: 503, attempt: 7 }).kind).toBe('retry');
    expect(c({ status: 503, attempt: 8 })).toMatchObject({ kind: 'dead', reason: expect.stringContaining('--max-attempts is 8') });
    expect(c({ networkError: 'timeout', attempt: 8 }).kind).toBe('dead');
  });

  it('reads the API error body and RFC 6749 bodies', () => {
    expect(errorBodyFields({ error: { code: 'duplicate_external_id', existing_id: 'u_1', message: 'taken' } })).toEqual({
      errorCode: 'duplicate_external_id',
      existingId: 'u_1',
      detail: 'taken',
    });
    expect(errorBodyFields({ error: { code: 'validation_failed', fields: { email: 'invalid' } } })).toMatchObject({ detail: '(email: invalid)' });
    expect(errorBodyFields({ error: 'invalid_client' })).toEqual({ errorCode: 'invalid_client' });
    expect(errorBodyFields('<html>')).toEqual({});
    expect(responseFacts({ status: 503, headers: { 'retry-after': '4' }, body: '' }, 0)).toEqual({ status: 503, retryAfterMs: 4000 });
  });
});
