import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { computeWebhookSignature, signWebhookPayload, verifyWebhookSignature } from '../../src/webhook/index.js';

const SECRET = 'whsec_test_secret';
const BODY = '{"id":"evt_1","type":"ticket.created","data":{"id":"tkt_1"}}';
const NOW = 1_717_000_000_000;
const T = NOW / 1000;
const opts = { now: NOW };

describe('verifyWebhookSignature', () => {
  it('accepts a valid signature (string or Buffer body) and returns its timestamp', () => {
    const header = signWebhookPayload(BODY, SECRET, T);
    expect(header).toBe(`t=${T},v1=${computeWebhookSignature(SECRET, T, BODY)}`);
    expect(verifyWebhookSignature(BODY, header, SECRET, opts)).toEqual({ ok: true, timestamp: T });
    expect(verifyWebhookSignature(Buffer.from(BODY), header, SECRET, opts)).toEqual({ ok: true, timestamp: T });
  });

  it('signs "<t>.<raw body>" with HMAC-SHA256', () => {
    const expected = createHmac('sha256', 'key').update('1717000000.hello').digest('hex');
    expect(computeWebhookSignature('key', 1717000000, 'hello')).toBe(expected);
    expect(computeWebhookSignature('key', 1717000001, 'hello')).not.toBe(expected);
  });

  it('rejects a tampered body', () => {
    const header = signWebhookPayload(BODY, SECRET, T);
    const r = verifyWebhookSignature(BODY.replace('tkt_1', 'tkt_2'), header, SECRET, opts);
    expect(r).toEqual({ ok: false, reason: expect.stringContaining('signature mismatch') });
  });

  it('rejects the wrong secret', () => {
    const header = signWebhookPayload(BODY, 'another', T);
    expect(verifyWebhookSignature(BODY, header, SECRET, opts).ok).toBe(false);
  });

  it('accepts any of several v1 entries and any of several secrets (rotation)', () => {
    const both = signWebhookPayload(BODY, ['new-secret', 'old-secret'], T);
    expect(both.match(/v1=/g)).toHaveLength(2);
    expect(verifyWebhookSignature(BODY, both, 'old-secret', opts).ok).toBe(true);
    expect(verifyWebhookSignature(BODY, both, 'new-secret', opts).ok).toBe(true);
    const oldOnly = signWebhookPayload(BODY, 'old-secret', T);
    expect(verifyWebhookSignature(BODY, oldOnly, ['new-secret', 'old-secret'], opts).ok).toBe(true);
    expect(verifyWebhookSignature(BODY, oldOnly, ['new-secret', 'other'], opts).ok).toBe(false);
    // Unknown schemes are ignored, not fatal.
    expect(verifyWebhookSignature(BODY, `${oldOnly},v0=abc`, 'old-secret', opts).ok).toBe(true);
  });

  it('rejects stale and future timestamps beyond the tolerance, and accepts the edge', () => {
    const header = signWebhookPayload(BODY, SECRET, T);
    expect(verifyWebhookSignature(BODY, header, SECRET, { now: NOW + 300_000 }).ok).toBe(true);
    const stale = verifyWebhookSignature(BODY, header, SECRET, { now: NOW + 301_000 });
    expect(stale).toEqual({ ok: false, reason: expect.stringContaining('too old') });
    const future = verifyWebhookSignature(BODY, header, SECRET, { now: NOW - 301_000 });
    expect(future).toEqual({ ok: false, reason: expect.stringContaining('future') });
    expect(verifyWebhookSignature(BODY, header, SECRET, { now: NOW + 20_000, toleranceSeconds: 10 }).ok).toBe(false);
  });

  it.each([
    [undefined, 'missing'],
    ['', 'missing'],
    ['garbage', 'not key=value'],
    [`v1=${'a'.repeat(64)}`, 'no t='],
    [`t=${T}`, 'no v1='],
    [`t=abc,v1=${'a'.repeat(64)}`, 'not a unix time'],
    [`t=${T},t=${T},v1=${'a'.repeat(64)}`, 'more than one t='],
    [`t=${T},v1=${'z'.repeat(64)}`, '64 hex'],
    [`t=${T},v1=abcd`, '64 hex'],
    [`t=${T},=x`, 'not key=value'],
  ])('rejects the malformed header %j with a reason', (header, reason) => {
    const r = verifyWebhookSignature(BODY, header, SECRET, opts);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toContain(reason);
  });

  it('handles an empty body', () => {
    const header = signWebhookPayload('', SECRET, T);
    expect(verifyWebhookSignature('', header, SECRET, opts).ok).toBe(true);
    expect(verifyWebhookSignature(' ', header, SECRET, opts).ok).toBe(false);
  });

  it('never throws on nonsense input', () => {
    expect(verifyWebhookSignature(BODY, signWebhookPayload(BODY, SECRET, T), [], opts)).toEqual({
      ok: false,
      reason: expect.stringContaining('no webhook secret'),
    });
    expect(verifyWebhookSignature(42 as unknown as string, `t=${T},v1=${'a'.repeat(64)}`, SECRET, opts).ok).toBe(false);
    expect(verifyWebhookSignature(BODY, {} as unknown as string, SECRET, opts).ok).toBe(false);
    expect(verifyWebhookSignature(BODY, 't=1', null as unknown as string, opts).ok).toBe(false);
    expect(verifyWebhookSignature(BODY, signWebhookPayload(BODY, SECRET, T), SECRET, { now: NOW, toleranceSeconds: -1 }).ok).toBe(false);
  });
});
