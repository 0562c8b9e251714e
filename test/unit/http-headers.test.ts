import { writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { classifyNetworkError, createHttpClient, parseBaseUrl } from '../../src/http/client.js';
import { parseRateLimitHeaders, parseRateLimitPolicy, parseRetryAfter } from '../../src/http/headers.js';

const NOW = Date.parse('2025-06-01T12:00:00Z');

describe('Retry-After', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter('1.5', NOW)).toBe(1500);
  });
  it('reads an HTTP-date relative to the injected now (past dates are 0)', () => {
    expect(parseRetryAfter('Sun, 01 Jun 2025 12:00:07 GMT', NOW)).toBe(7000);
    expect(parseRetryAfter('Sunday, 01-Jun-25 12:01:00 GMT', NOW)).toBe(60_000);
    expect(parseRetryAfter('Sun, 01 Jun 2025 11:59:00 GMT', NOW)).toBe(0);
  });
  it('ignores garbage', () => {
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter('', NOW)).toBeUndefined();
    expect(parseRetryAfter('-5', NOW)).toBeUndefined();
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
  });
});

describe('rate-limit headers', () => {
  it('IETF draft 08+: RateLimit-Policy and RateLimit with several policies (the most constraining wins)', () => {
    const info = parseRateLimitHeaders(
      {
        'ratelimit-policy': '"600-per-60s";q=600;w=60, "150-per-10s";q=150;w=10',
        ratelimit: '"600-per-60s";r=400;t=30, "150-per-10s";r=3;t=4',
      },
      NOW,
    );
    expect(info).toEqual({ remaining: 3, resetMs: 4000, policies: [{ count: 600, windowMs: 60_000 }, { count: 150, windowMs: 10_000 }] });
  });
  it('IETF draft 07 forms', () => {
    expect(parseRateLimitHeaders({ ratelimit: 'limit=150, remaining=12, reset=7' }, NOW)).toEqual({ remaining: 12, resetMs: 7000, limit: 150, policies: [] });
    expect(parseRateLimitHeaders({ 'RateLimit-Remaining': '0', 'RateLimit-Reset': '2', 'RateLimit-Limit': '10' }, NOW)).toEqual({
      remaining: 0,
      resetMs: 2000,
      limit: 10,
      policies: [],
    });
    expect(parseRateLimitPolicy('150;w=10, 600;w=60')).toEqual([{ count: 150, windowMs: 10_000 }, { count: 600, windowMs: 60_000 }]);
  });
  it('X-RateLimit-*: reset as seconds or as epoch seconds', () => {
    expect(parseRateLimitHeaders({ 'x-ratelimit-remaining': '5', 'x-ratelimit-reset': '30' }, NOW)).toMatchObject({ remaining: 5, resetMs: 30_000 });
    expect(parseRateLimitHeaders({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(NOW / 1000 + 9) }, NOW)).toMatchObject({ remaining: 0, resetMs: 9000 });
  });
  it('none present: undefined (and the runner works without them)', () => {
    expect(parseRateLimitHeaders({ 'content-type': 'application/json' }, NOW)).toBeUndefined();
  });
});

describe('http client guards (nothing sent)', () => {
  it('refuses http:// with a usage error (exit 1) before anything is sent', () => {
    const e = (() => {
      try {
        createHttpClient({ baseUrl: 'http://api.example.test', concurrency: 1, timeoutMs: 1000 });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).exitCode).toBe(1);
    expect((e as Error).message).toMatch(/HTTPS only.*https:\/\//);
  });
  it('refuses credentials in the URL, non-URLs, queries', () => {
    expect(() => parseBaseUrl('https://user:pw@api.example.test')).toThrow(UsageError);
    expect(() => parseBaseUrl('api.example.test')).toThrow(/Expected --base-url/);
    expect(() => parseBaseUrl('https://api.example.test/?x=1')).toThrow(UsageError);
    expect(parseBaseUrl('https://api.example.test/prefix/').pathname).toBe('/prefix/');
  });
  it('a missing or non-PEM CA file is a usage error naming the file', () => {
    expect(() => createHttpClient({ baseUrl: 'https://a.test', caFile: '/nonexistent/ca.pem', concurrency: 1, timeoutMs: 1000 })).toThrow(/ca\.pem.*ENOENT/);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nb-ca-'));
    const f = path.join(dir, 'ca.pem');
    writeFileSync(f, 'not a cert');
    expect(() => createHttpClient({ baseUrl: 'https://a.test', caFile: f, concurrency: 1, timeoutMs: 1000 })).toThrow(/no PEM certificate/);
  });
  it('classifies socket errors', () => {
    expect(classifyNetworkError({ code: 'ECONNREFUSED' }).kind).toBe('refused');
    expect(classifyNetworkError({ code: 'UND_ERR_SOCKET', cause: { code: 'ECONNRESET' } }).kind).toBe('reset');
    expect(classifyNetworkError({ code: 'UND_ERR_HEADERS_TIMEOUT' }).kind).toBe('timeout');
    expect(classifyNetworkError({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }).kind).toBe('tls');
    expect(classifyNetworkError({ code: 'UND_ERR_CONNECT', cause: { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' } }).kind).toBe('tls');
    expect(classifyNetworkError(new Error('x')).kind).toBe('other');
  });
});
