/**
 * The workspace's credentials: OAuth clients and the tokens they obtain from
 * POST /oauth/token, and workspace API keys. Answers "who is this bearer and
 * what may it do" for every API request, and the token endpoint itself.
 *
 * The token endpoint's bodies follow RFC 6749 (`{"error": "invalid_client"}`),
 * not the API's error body, as the vendor documents.
 */
import { randomBytes } from 'node:crypto';
import type { Scope } from '../types.js';
import { ALL_SCOPES } from './types.js';
import { createSlidingWindows, type SlidingWindows } from './windows.js';
import type { Reply } from './reply.js';
import { json } from './reply.js';

export interface Principal {
  kind: 'token' | 'api_key';
  scopes: ReadonlySet<Scope>;
  /** Brand ids the credential may touch; null = every brand. */
  brands: ReadonlySet<string> | null;
}

export type Authentication =
  | { ok: true; principal: Principal }
  | { ok: false; code: 'invalid_token' | 'token_expired' | 'token_revoked'; message: string };

interface Client {
  secret: string;
  scopes: Scope[];
  tokenWindow: SlidingWindows;
}

interface Token {
  principal: Principal;
  issuedAt: number;
  expiresAt: number;
  revoked: boolean;
}

interface ApiKey {
  principal: Principal;
  revoked: boolean;
}

export interface CredentialsOptions {
  tokenTtlS: number;
  tokenRateLimitPerMin: number;
  retryAfter: boolean;
}

export interface Credentials {
  createClient(scopes: readonly Scope[]): { clientId: string; clientSecret: string };
  createApiKey(scopes: readonly Scope[], brands?: readonly string[]): string;
  revokeApiKey(key: string): void;
  /** Revokes every token live at `atMs` (epoch ms); a time not yet come is applied when it comes. */
  revokeAll(atMs: number, nowMs: number): void;
  authenticate(authorization: string | undefined, nowMs: number): Authentication;
  /** POST /oauth/token with its form body. */
  issueToken(contentType: string | undefined, body: Buffer, nowMs: number, perfNow: number): Reply & { issued: boolean; rateLimited: boolean };
}

export function validateScopes(scopes: readonly unknown[] | undefined, what: string): Scope[] {
  if (!Array.isArray(scopes)) throw new TypeError(`Expected ${what} to be an array of scopes (${ALL_SCOPES.join(', ')}), got ${JSON.stringify(scopes)}.`);
  for (const s of scopes) {
    if (!ALL_SCOPES.includes(s as Scope)) throw new TypeError(`Unknown scope \`${String(s)}\` in ${what}; known: ${ALL_SCOPES.join(', ')}.`);
  }
  return [...new Set(scopes as Scope[])];
}

export function createCredentials(opts: CredentialsOptions): Credentials {
  return new WorkspaceCredentials(opts);
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

class WorkspaceCredentials implements Credentials {
  #opts: CredentialsOptions;
  #clients = new Map<string, Client>();
  #tokens = new Map<string, Token>();
  #apiKeys = new Map<string, ApiKey>();
  /** Revocations scheduled for a later time, applied lazily when a token is checked. */
  #scheduled: number[] = [];

  constructor(opts: CredentialsOptions) {
    this.#opts = opts;
  }

  createClient(scopes: readonly Scope[]): { clientId: string; clientSecret: string } {
    const clientId = `cli_${randomBytes(8).toString('hex')}`;
    const clientSecret = `cs_${randomBytes(24).toString('base64url')}`;
    this.#clients.set(clientId, {
      secret: clientSecret,
      scopes: validateScopes(scopes, 'the client scopes'),
      tokenWindow: createSlidingWindows([{ count: this.#opts.tokenRateLimitPerMin, windowMs: 60_000 }]),
    });
    return { clientId, clientSecret };
  }

  createApiKey(scopes: readonly Scope[], brands?: readonly string[]): string {
    const key = `nxk_${randomBytes(32).toString('base64url')}`;
    this.#apiKeys.set(key, {
      principal: {
        kind: 'api_key',
        scopes: new Set(validateScopes(scopes, 'the API key scopes')),
        brands: brands ? new Set(brands) : null,
      },
      revoked: false,
    });
    return key;
  }

  revokeApiKey(key: string): void {
    const k = this.#apiKeys.get(key);
    if (k) k.revoked = true;
  }

  revokeAll(atMs: number, nowMs: number): void {
    if (atMs > nowMs) {
      this.#scheduled.push(atMs);
      return;
    }
    for (const t of this.#tokens.values()) if (t.issuedAt <= atMs && t.expiresAt > atMs) t.revoked = true;
  }

  authenticate(authorization: string | undefined, nowMs: number): Authentication {
    const m = authorization ? BEARER.exec(authorization) : null;
    if (!m) {
      return { ok: false, code: 'invalid_token', message: 'Send Authorization: Bearer <access token or API key>.' };
    }
    const credential = m[1]!;
    if (credential.startsWith('nxk_')) {
      const key = this.#apiKeys.get(credential);
      if (!key) return { ok: false, code: 'invalid_token', message: 'Unknown API key.' };
      if (key.revoked) return { ok: false, code: 'token_revoked', message: 'This API key was revoked.' };
      return { ok: true, principal: key.principal };
    }
    const token = this.#tokens.get(credential);
    if (!token) return { ok: false, code: 'invalid_token', message: 'Unknown access token.' };
    if (!token.revoked && this.#scheduled.length > 0) {
      for (const at of this.#scheduled) {
        if (at <= nowMs && token.issuedAt < at && token.expiresAt > at) token.revoked = true;
      }
    }
    if (token.revoked) return { ok: false, code: 'token_revoked', message: 'This access token was revoked; obtain a new one.' };
    if (nowMs >= token.expiresAt) return { ok: false, code: 'token_expired', message: 'This access token expired; obtain a new one.' };
    return { ok: true, principal: token.principal };
  }

  issueToken(contentType: string | undefined, body: Buffer, nowMs: number, perfNow: number): Reply & { issued: boolean; rateLimited: boolean } {
    const fail = (status: number, error: string, description: string, headers: Record<string, string> = {}) => ({
      ...json(status, { error, error_description: description }, { 'cache-control': 'no-store', ...headers }),
      issued: false,
      rateLimited: status === 429,
    });
    if (!contentType || contentType.split(';')[0]!.trim().toLowerCase() !== 'application/x-www-form-urlencoded') {
      return fail(400, 'invalid_request', 'The body must be application/x-www-form-urlencoded.');
    }
    const form = new URLSearchParams(body.toString('utf8'));
    for (const name of new Set(form.keys())) {
      if (form.getAll(name).length > 1) return fail(400, 'invalid_request', `Parameter ${name} appears more than once.`);
    }
    const grantType = form.get('grant_type');
    if (!grantType) return fail(400, 'invalid_request', 'Missing grant_type.');
    if (grantType !== 'client_credentials') {
      return fail(400, 'unsupported_grant_type', `Only client_credentials is supported, got ${grantType}.`);
    }
    const clientId = form.get('client_id') ?? '';
    const client = this.#clients.get(clientId);
    if (!client || form.get('client_secret') !== client.secret) {
      return fail(401, 'invalid_client', 'Unknown client or wrong client secret.');
    }
    let scopes = client.scopes;
    const asked = form.get('scope');
    if (asked !== null) {
      const list = asked.split(' ').filter(Boolean);
      const outside = list.filter((s) => !client.scopes.includes(s as Scope));
      if (list.length === 0 || outside.length > 0) {
        return fail(400, 'invalid_scope', outside.length ? `Not granted to this client: ${outside.join(' ')}.` : 'Empty scope.');
      }
      scopes = [...new Set(list)] as Scope[];
    }
    // Checked last so a refused request does not use up the client's quota.
    const admitted = client.tokenWindow.tryAcquire(perfNow);
    if (!admitted.ok) {
      const headers: Record<string, string> = this.#opts.retryAfter ? { 'retry-after': String(Math.ceil(admitted.waitMs / 1000)) } : {};
      return fail(429, 'rate_limited', `At most ${this.#opts.tokenRateLimitPerMin} token requests per minute per client.`, headers);
    }
    const accessToken = `nxt_${randomBytes(32).toString('base64url')}`;
    const ttlMs = this.#opts.tokenTtlS * 1000;
    this.#tokens.set(accessToken, {
      principal: { kind: 'token', scopes: new Set(scopes), brands: null },
      issuedAt: nowMs,
      expiresAt: nowMs + ttlMs,
      revoked: false,
    });
    return {
      ...json(
        200,
        { access_token: accessToken, token_type: 'Bearer', expires_in: Math.ceil(this.#opts.tokenTtlS), scope: scopes.join(' ') },
        { 'cache-control': 'no-store' },
      ),
      issued: true,
      rateLimited: false,
    };
  }
}
