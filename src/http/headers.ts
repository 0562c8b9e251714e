/**
 * Pure parsing of the response headers that steer pacing: Retry-After
 * (RFC 9110: delay-seconds or an HTTP-date) and the rate-limit headers servers
 * and proxies send in their several dialects:
 *
 * - IETF draft 08+: `RateLimit-Policy: "default";q=600;w=60`, `RateLimit: "default";r=12;t=7`
 * - IETF draft 07:  `RateLimit: limit=150, remaining=12, reset=7`, `RateLimit-Policy: 150;w=10, 600;w=60`
 * - split headers:  `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`
 * - de facto:       `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (seconds or epoch seconds)
 *
 * Every function takes `now` (epoch ms) so a date is turned into a delay
 * against an injected clock, never Date.now().
 */
import type { RateWindow } from '../types.js';

export type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;

/** The first value of a header, case-insensitively. */
export function headerValue(headers: HeaderBag, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== want || v === undefined) continue;
    return Array.isArray(v) ? v.join(', ') : v;
  }
  return undefined;
}

/**
 * Retry-After in ms from `now`, or undefined when absent or unreadable.
 * `120` -> 120000; an HTTP-date -> its distance from now (0 when past).
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // HTTP-date (IMF-fixdate, also the obsolete RFC 850 and asctime forms Date.parse reads).
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export function retryAfterFromHeaders(headers: HeaderBag, now: number): number | undefined {
  return parseRetryAfter(headerValue(headers, 'retry-after'), now);
}

/** What a server said about its quota in one response. */
export interface RateLimitInfo {
  /** Requests left in the current (most constraining) window. */
  remaining?: number;
  /** Ms until that window frees up. */
  resetMs?: number;
  /** The quota of that window. */
  limit?: number;
  /** Windows the server announced (RateLimit-Policy). */
  policies: RateWindow[];
}

const num = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined;
  const t = s.trim().replace(/^"|"$/g, '');
  if (!/^\d+(\.\d+)?$/.test(t)) return undefined;
  return Number(t);
};

/** Splits a structured-field list into items of `key=value` params (quotes kept out). */
function items(value: string): Map<string, string>[] {
  return value.split(',').map((item) => {
    const params = new Map<string, string>();
    item.split(';').forEach((part, i) => {
      const eq = part.indexOf('=');
      if (eq < 0) {
        const bare = part.trim();
        if (bare) params.set(i === 0 ? '_' : bare.toLowerCase(), bare);
      } else {
        params.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
      }
    });
    return params;
  });
}

/** `X-RateLimit-Reset` is seconds from now, or epoch seconds when it is that large. */
function resetToMs(value: number, now: number): number {
  if (value > 1e9) return Math.max(0, value * 1000 - now);
  return Math.round(value * 1000);
}

export function parseRateLimitPolicy(value: string | undefined): RateWindow[] {
  if (!value) return [];
  const out: RateWindow[] = [];
  for (const p of items(value)) {
    const q = num(p.get('q')) ?? num(p.get('_'));
    const w = num(p.get('w'));
    if (q !== undefined && w !== undefined && q >= 1 && w > 0) out.push({ count: Math.floor(q), windowMs: Math.round(w * 1000) });
  }
  return out;
}

/** Reads whichever dialect is present; undefined when the response carries none. */
export function parseRateLimitHeaders(headers: HeaderBag, now: number): RateLimitInfo | undefined {
  const policies = parseRateLimitPolicy(headerValue(headers, 'ratelimit-policy'));
  let remaining: number | undefined;
  let resetMs: number | undefined;
  let limit: number | undefined;

  const combined = headerValue(headers, 'ratelimit');
  if (combined) {
    // Draft 07 is one dictionary (`limit=150, remaining=12, reset=7`); later
    // drafts list one item per policy. The most constraining item wins.
    const list = /\bremaining\s*=/i.test(combined) ? items(combined.replace(/,/g, ';')) : items(combined);
    for (const p of list) {
      const r = num(p.get('r')) ?? num(p.get('remaining'));
      const t = num(p.get('t')) ?? num(p.get('reset'));
      const l = num(p.get('limit'));
      if (r === undefined) continue;
      if (remaining === undefined || r < remaining) {
        remaining = r;
        resetMs = t === undefined ? undefined : Math.round(t * 1000);
        limit = l;
      }
    }
  }
  if (remaining === undefined) {
    for (const prefix of ['ratelimit-', 'x-ratelimit-']) {
      const r = num(headerValue(headers, `${prefix}remaining`));
      if (r === undefined) continue;
      remaining = r;
      const t = num(headerValue(headers, `${prefix}reset`));
      resetMs = t === undefined ? undefined : resetToMs(t, now);
      limit = num(headerValue(headers, `${prefix}limit`));
      break;
    }
  }
  if (remaining === undefined && policies.length === 0) return undefined;
  return {
    ...(remaining !== undefined ? { remaining } : {}),
    ...(resetMs !== undefined ? { resetMs } : {}),
    ...(limit !== undefined ? { limit } : {}),
    policies,
  };
}
