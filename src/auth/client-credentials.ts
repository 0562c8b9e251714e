/**
 * OAuth client credentials: the access token lives in memory only.
 *
 * - Refreshed ahead of expiry, when less than min(60 s, lifetime / 10) remains,
 *   in the background while the current token is still good; a caller waits
 *   only when no token is usable.
 * - Single-flight: any number of concurrent callers (50 requests that all got
 *   a 401) cause one token request.
 * - `invalidate(token)` forgets the token only if it is still the current one,
 *   so a late 401 for an old token never throws away a fresh one.
 * - The token endpoint: invalid_client stops at once (exit 3); 429, 5xx and
 *   network errors back off with full jitter (Retry-After wins) and retry a
 *   bounded number of times; every wait is abortable.
 */
import type { Clock } from '../clock.js';
import { AuthError, UsageError } from '../errors.js';
import type { HttpClient, HttpResponse } from '../http/client.js';
import { NetworkError } from '../http/client.js';
import { retryAfterFromHeaders } from '../http/headers.js';
import { type BackoffOptions, retryDelay } from '../limits/backoff.js';
import type { Scope } from '../types.js';
import { type AuthEvent, type TokenProvider, insufficientScopeError, missingScopes } from './provider.js';
import { redact, registerSecret } from './redact.js';

export interface ClientCredentialsOptions {
  http: Pick<HttpClient, 'request'>;
  clientId: string;
  clientSecret: string;
  clock: Clock;
  random?: () => number;
  /** Token requests per refresh before giving up; default 6. */
  maxAttempts?: number;
  /** Default 500 ms growing to 30 s. */
  backoff?: BackoffOptions;
  /** Space-separated scopes to ask for; default: all the client was granted. */
  scope?: string;
  onEvent?: (e: AuthEvent) => void;
}

interface Current {
  token: string;
  issuedAt: number;
  expiresAt: number;
  /** A background refresh starts from here on. */
  refreshAt: number;
  /** Still safe to put on the wire until here: half the refresh margin is left for the trip. */
  usableUntil: number;
  scopes: Set<string>;
}

const TOKEN_PATH = '/oauth/token';

/** How long before expiry a refresh starts: min(60 s, lifetime / 10). */
export function refreshAheadMs(lifetimeMs: number): number {
  return Math.min(60_000, lifetimeMs / 10);
}

/** Races a shared promise against one caller's signal, leaving the promise running for the others. */
function withSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function errorCode(body: unknown): string | undefined {
  if (body && typeof body === 'object') {
    const e = (body as { error?: unknown }).error;
    if (typeof e === 'string') return e;
    if (e && typeof e === 'object' && typeof (e as { code?: unknown }).code === 'string') return (e as { code: string }).code;
  }
  return undefined;
}

export function createClientCredentialsProvider(opts: ClientCredentialsOptions): TokenProvider {
  const { http, clock } = opts;
  const random = opts.random ?? Math.random;
  const maxAttempts = opts.maxAttempts ?? 6;
  const backoff = opts.backoff ?? { baseMs: 500, capMs: 30_000, floorMs: 100 };
  registerSecret(opts.clientSecret);
  const closing = new AbortController();
  let current: Current | undefined;
  let inflight: Promise<Current> | undefined;
  const stats = { tokenRequests: 0, tokensIssued: 0, refreshes: 0 };

  async function fetchToken(reason: 'initial' | 'expiring' | 'expired' | 'rejected'): Promise<Current> {
    let last = '';
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const startedAt = clock.now();
      let res: HttpResponse | undefined;
      stats.tokenRequests++;
      try {
        res = await http.request({
          method: 'POST',
          path: TOKEN_PATH,
          form: {
            grant_type: 'client_credentials',
            client_id: opts.clientId,
            client_secret: opts.clientSecret,
            ...(opts.scope ? { scope: opts.scope } : {}),
          },
          signal: closing.signal,
        });
      } catch (err) {
        if (!(err instanceof NetworkError)) throw err;
        if (err.kind === 'tls') {
          throw new UsageError(redact(`Cannot reach the token endpoint securely: ${err.message}`), { cause: err });
        }
        last = `${err.kind}${err.code ? ` (${err.code})` : ''}`;
      }
      if (res) {
        const code = errorCode(res.body);
        if (res.status === 200) {
          const b = res.body as { access_token?: unknown; expires_in?: unknown; scope?: unknown };
          if (typeof b?.access_token !== 'string' || !b.access_token) {
            throw new AuthError('The token endpoint answered 200 without an access_token. Check that --base-url points at the NexusCore API.', 'token_endpoint');
          }
          registerSecret(b.access_token);
          const lifetimeMs = Math.max(1, Number(b.expires_in) || 3600) * 1000;
          const scopes = new Set(typeof b.scope === 'string' ? b.scope.split(/\s+/).filter(Boolean) : []);
          stats.tokensIssued++;
          opts.onEvent?.({ type: 'token_refreshed', reason, expiresInMs: lifetimeMs, scopes: [...scopes] });
          const ahead = refreshAheadMs(lifetimeMs);
          const expiresAt = startedAt + lifetimeMs;
          return { token: b.access_token, issuedAt: startedAt, expiresAt, refreshAt: expiresAt - ahead, usableUntil: expiresAt - ahead / 2, scopes };
        }
        if (res.status === 401 || code === 'invalid_client') {
          throw new AuthError(
            `The token endpoint rejected client \`${redact(opts.clientId)}\` (${res.status} invalid_client): check NEXUSCORE_CLIENT_ID / the secret; the secret is shown only once when created, so create a new credential if it was lost.`,
            'invalid_client',
          );
        }
        if (res.status === 400 && code === 'invalid_scope') {
          throw new AuthError(
            `The token endpoint refused the scopes asked for (400 invalid_scope). Ask a workspace admin to grant them to this client, or ask for fewer.`,
            'insufficient_scope',
          );
        }
        if (res.status !== 429 && res.status < 500) {
          throw new AuthError(
            redact(`The token endpoint answered ${res.status}${code ? ` ${code}` : ''}; no token was issued. Check --base-url and the credential, then run again.`),
            'token_endpoint',
          );
        }
        last = `${res.status}${code ? ` ${code}` : ''}`;
      }
      if (attempt === maxAttempts) break;
      const retryAfterMs = res ? retryAfterFromHeaders(res.headers, clock.now()) : undefined;
      const delayMs = retryDelay(attempt, random(), backoff, retryAfterMs);
      opts.onEvent?.({ type: 'token_retry', attempt, delayMs, reason: last });
      await clock.sleep(delayMs, closing.signal);
    }
    throw new AuthError(
      `The token endpoint issued no token after ${maxAttempts} tries (last: ${last}). Check the NexusCore status page and --base-url, then run again.`,
      'token_unavailable',
    );
  }

  function refresh(reason: 'initial' | 'expiring' | 'expired' | 'rejected'): Promise<Current> {
    if (!inflight) {
      if (reason !== 'initial') stats.refreshes++;
      const p = fetchToken(reason).then(
        (c) => {
          current = c;
          if (inflight === p) inflight = undefined;
          return c;
        },
        (err: unknown) => {
          if (inflight === p) inflight = undefined;
          throw err;
        },
      );
      inflight = p;
      // A background refresh nobody awaits must not become an unhandled rejection.
      p.catch(() => {});
    }
    return inflight;
  }

  function peek(): string | undefined {
    if (!current) return undefined;
    const now = clock.now();
    if (now < current.refreshAt) return current.token;
    if (now < current.usableUntil) {
      void refresh('expiring');
      return current.token;
    }
    return undefined;
  }

  async function token(signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    const t = peek();
    if (t !== undefined) return t;
    if (current) return (await withSignal(refresh('expired'), signal)).token;
    return (await withSignal(refresh(stats.tokensIssued === 0 ? 'initial' : 'rejected'), signal)).token;
  }

  function invalidate(t: string): boolean {
    if (current?.token !== t) return false;
    current = undefined;
    return true;
  }

  return {
    mode: 'client_credentials',
    token,
    peek,
    invalidate,
    async renew(t, signal) {
      invalidate(t);
      return token(signal);
    },
    grantedScopes: () => current?.scopes,
    async checkScopes(required: readonly Scope[], signal?: AbortSignal, context?: string) {
      await token(signal);
      const granted = current?.scopes ?? new Set<string>();
      const missing = missingScopes(required, granted);
      if (missing.length) throw insufficientScopeError(missing, granted, context);
      return { verified: true };
    },
    stats: () => ({ ...stats }),
    close: () => closing.abort(new Error('The token provider closed.')),
  };
}
