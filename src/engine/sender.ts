/**
 * One logical send of one item: through the workspace gate, with a bearer
 * from the token provider, once on the wire, plus the two replays that are
 * not retries of the item:
 *
 * - a 401: forget the token if it is still current, refresh (single-flight,
 *   so 50 concurrent 401s cost one token request), replay once; a second 401
 *   stops the run (AuthError, exit 3). An API key cannot be refreshed: its
 *   first 401 stops the run.
 * - a 429: feed the adaptive layer (which pauses every send), go back to the
 *   front of the line and send again. A 429 is a send, not a failed attempt.
 *
 * Everything else (2xx, 4xx, 5xx, network errors) is returned to the engine,
 * which applies the outcome table. No retry here; no printing: typed events.
 */
import type { Clock } from '../clock.js';
import { AuthError } from '../errors.js';
import { type HttpClient, type HttpRequest, type HttpResponse, NetworkError } from '../http/client.js';
import { parseRateLimitHeaders, retryAfterFromHeaders } from '../http/headers.js';
import type { TokenProvider } from '../auth/provider.js';
import { redact } from '../auth/redact.js';
import type { Gate } from '../limits/gate.js';
import type { ResponseSignal } from '../limits/adaptive-rate.js';
import type { RequestSpec } from '../types.js';
import { errorBodyFields, maySteer } from './outcome.js';

export type SenderEvent =
  | { type: 'send'; method: string; path: string; startedAt: number; replay: 'none' | 'rate_limited' | 'unauthorized' }
  | { type: 'response'; method: string; path: string; status: number; latencyMs: number; startedAt: number }
  | { type: 'network_error'; method: string; path: string; kind: string }
  | { type: 'rate_limited'; method: string; path: string; retryAfterMs?: number; pauseMs: number; scale: number }
  | { type: 'token_refreshed'; reason: 'unauthorized' };

export interface SendSpec extends RequestSpec {
  idempotencyKey?: string;
  headers?: Record<string, string>;
}

export interface SendResult {
  /** The final response (any status but 401, and 429 only when max429PerSend ran out). */
  response?: HttpResponse;
  /** Set instead of `response` when the final send got no usable response. */
  error?: NetworkError;
  /** Requests put on the wire, 429s and the 401 replay included. */
  sends: number;
  rateLimited: number;
  /** Token refreshes this send caused (0 or 1). */
  refreshes: number;
  /** The final send was the replay after a 401. */
  authReplayed: boolean;
  /** Start time (clock ms) of the final send. */
  startedAt: number;
}

export interface SenderOptions {
  http: Pick<HttpClient, 'request'>;
  auth: TokenProvider;
  gate: Gate;
  clock: Clock;
  /** 429s one logical send sits through before the engine gets the 429; default 50. */
  max429PerSend?: number;
  onEvent?: (e: SenderEvent) => void;
}

export interface SenderTotals {
  sends: number;
  rateLimited: number;
  refreshes: number;
  networkErrors: number;
}

export interface SendOptions {
  /**
   * Aborts the waiting only (for a concurrency slot, a start, a pause, a
   * token), never a request already on the wire: a shutdown lets in-flight
   * sends finish so their outcome is recorded. Rejects with its reason.
   */
  waitSignal?: AbortSignal;
}

export interface Sender {
  /** `signal` aborts everything, the request on the wire included. */
  send(spec: SendSpec, signal?: AbortSignal, opts?: SendOptions): Promise<SendResult>;
  /** Adds a listener for typed events; returns the unsubscribe function. */
  subscribe(listener: (e: SenderEvent) => void): () => void;
  totals(): SenderTotals;
}

function requestHeaders(token: string, spec: SendSpec): Record<string, string> {
  const h: Record<string, string> = { authorization: `Bearer ${token}` };
  if (spec.idempotencyKey !== undefined) h['idempotency-key'] = spec.idempotencyKey;
  if (spec.headers) Object.assign(h, spec.headers);
  return h;
}

export function createSender(opts: SenderOptions): Sender {
  const { http, auth, gate, clock } = opts;
  const max429 = opts.max429PerSend ?? 50;
  const listeners = new Set<(e: SenderEvent) => void>();
  if (opts.onEvent) listeners.add(opts.onEvent);
  const emit = (e: SenderEvent) => {
    for (const l of listeners) l(e);
  };
  const totals: SenderTotals = { sends: 0, rateLimited: 0, refreshes: 0, networkErrors: 0 };

  async function once(spec: SendSpec, signal: AbortSignal | undefined, wait: AbortSignal | undefined): Promise<SendResult> {
    const r: SendResult = { sends: 0, rateLimited: 0, refreshes: 0, authReplayed: false, startedAt: 0 };
    let replay: 'none' | 'rate_limited' | 'unauthorized' = 'none';
    for (;;) {
      // A token first, so the start the gate records is not spent waiting for
      // the token endpoint (the server would count it later than we do).
      // The usual case (a token in hand, room to start) takes no await: each
      // is a promise and a microtask turn on every send.
      wait?.throwIfAborted();
      if (auth.peek() === undefined) await auth.token(wait);
      const ticket = (wait?.aborted ? undefined : gate.tryAcquire()) ?? (await gate.acquire(wait, { front: replay !== 'none' }));
      const { startedAt, seq } = ticket;
      let token = wait?.aborted ? undefined : auth.peek();
      if (token === undefined) {
        try {
          token = await auth.token(wait);
        } catch (err) {
          gate.cancel(ticket); // nothing went on the wire: the slot is free again
          throw err;
        }
      }
      r.sends++;
      totals.sends++;
      r.startedAt = startedAt;
      emit({ type: 'send', method: spec.method, path: spec.path, startedAt, replay });
      const req: HttpRequest = { method: spec.method, path: spec.path, headers: requestHeaders(token, spec) };
      if (spec.body !== undefined) req.json = spec.body;
      if (signal) req.signal = signal;
      let res: HttpResponse;
      try {
        res = await http.request(req);
      } catch (err) {
        // Aborted or failed: the request may have reached the server, so its
        // slot counts until now (the limiter must hear of every start).
        gate.observe({ startedAt, seq });
        if (!(err instanceof NetworkError)) throw err;
        totals.networkErrors++;
        emit({ type: 'network_error', method: spec.method, path: spec.path, kind: err.kind });
        r.error = err;
        return r;
      }
      const now = clock.now();
      const steer = maySteer(res.headers);
      const retryAfterMs = steer ? retryAfterFromHeaders(res.headers, now) : undefined;
      const rateLimit = steer ? parseRateLimitHeaders(res.headers, now) : undefined;
      const observed: ResponseSignal = { startedAt, seq, status: res.status, latencyMs: res.latencyMs };
      if (retryAfterMs !== undefined) observed.retryAfterMs = retryAfterMs;
      if (rateLimit) observed.rateLimit = rateLimit;
      gate.observe(observed);
      emit({ type: 'response', method: spec.method, path: spec.path, status: res.status, latencyMs: res.latencyMs, startedAt });

      if (res.status === 401) {
        const { errorCode } = errorBodyFields(res.body);
        const detail = `401${errorCode ? ` ${errorCode}` : ''} for ${spec.method} ${spec.path}`;
        if (r.authReplayed) {
          throw new AuthError(
            redact(
              `NexusCore rejected a freshly issued token too (${detail}): the credential itself is no longer accepted. Check the client under Settings → API keys (and the Tokens tab for revocations), then run again.`,
            ),
            'token_rejected',
          );
        }
        await auth.renew(token, wait, detail); // throws AuthError for an API key
        r.refreshes++;
        totals.refreshes++;
        r.authReplayed = true;
        emit({ type: 'token_refreshed', reason: 'unauthorized' });
        replay = 'unauthorized';
        continue;
      }
      if (res.status === 429) {
        r.rateLimited++;
        totals.rateLimited++;
        emit({
          type: 'rate_limited',
          method: spec.method,
          path: spec.path,
          ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
          pauseMs: gate.adaptive.pauseRemaining(),
          scale: gate.adaptive.scale,
        });
        if (r.rateLimited >= max429) {
          r.response = res;
          return r;
        }
        replay = 'rate_limited';
        continue;
      }
      r.response = res;
      return r;
    }
  }

  return {
    send(spec, signal, o = {}) {
      const wait = signal && o.waitSignal ? AbortSignal.any([signal, o.waitSignal]) : (signal ?? o.waitSignal);
      return gate.run(() => once(spec, signal, wait), wait);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    totals: () => ({ ...totals }),
  };
}
