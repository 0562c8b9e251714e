/**
 * The simulator's public types. `startSimulator` (./simulator.ts) is what
 * tests, the demo and the benchmarks start; these shapes are their contract.
 */
import type { RateWindow, Scope } from '../types.js';

export type ResourceType = 'tickets' | 'users' | 'organizations';
export const RESOURCE_TYPES: readonly ResourceType[] = ['tickets', 'users', 'organizations'];

export const ALL_SCOPES: readonly Scope[] = ['tickets:read', 'tickets:write', 'brands:read', 'users:read', 'users:write'];

/**
 * Probabilities (0..1) of each fault per `/v1` request, drawn from the seeded
 * PRNG; their sum must not exceed 1 (one draw picks at most one fault).
 */
export interface FaultConfig {
  /** Answered before anything is stored (the idempotency key is released, so a resend runs afresh). */
  error500: number;
  error502: number;
  error503: number;
  /** Store the record (and the idempotency entry), then destroy the socket with no response. */
  storeThenDrop: number;
  /** Destroy the socket before storing anything. */
  resetBeforeStore: number;
  /** Never answer, until the client gives up or the simulator closes. Nothing is stored. */
  hang: number;
  /** Added latency per `/v1` request: fixed + uniform random [0, jitter). */
  latencyMs: number;
  jitterMs: number;
}

export type FaultKind = 'error500' | 'error502' | 'error503' | 'storeThenDrop' | 'resetBeforeStore' | 'hang';
export const FAULT_KINDS: readonly FaultKind[] = ['error500', 'error502', 'error503', 'storeThenDrop', 'resetBeforeStore', 'hang'];

export interface SimBrand {
  id: string;
  name: string;
  subdomain: string;
}

export interface SimOptions {
  /** Default 127.0.0.1 and 0 (a free port). */
  host?: string;
  port?: number;
  /** Lifetime of an OAuth access token, seconds. Default 3600. */
  tokenTtlS?: number;
  /** Enforced quota windows, per workspace. Default DEFAULT_WINDOWS; [] = no limit. */
  limits?: RateWindow[];
  /**
   * Windows measured for stats.maxInWindow but not enforced: lets a test run
   * the simulator unlimited and still judge whether the client kept its quota.
   */
  watchWindows?: RateWindow[];
  /** 409 duplicate_external_id on a taken external_id. Default true (workspaces since 2025). */
  uniqueExternalId?: boolean;
  /** How long an Idempotency-Key is remembered from its first use. Default 24 h. */
  idempotencyTtlMs?: number;
  /** Send Retry-After on 429. Default true; false acts like a proxy that strips it. */
  retryAfter?: boolean;
  /** Send IETF draft RateLimit-Policy / RateLimit headers. Default false. */
  ratelimitHeaders?: boolean;
  /** PRNG seed for faults and jitter. Default 1. */
  seed?: number;
  faults?: Partial<FaultConfig>;
  /** Token endpoint limit, per client per minute. Default 20. */
  tokenRateLimitPerMin?: number;
  /** Scopes of the default OAuth client. Default all five. */
  scopes?: Scope[];
  /** Scopes and brand restriction of the default API key. Default all scopes, no restriction. */
  apiKeyScopes?: Scope[];
  apiKeyBrands?: string[];
  /** The workspace's brands. Default three. */
  brands?: SimBrand[];
  /** Where to POST webhook events (http or https); none when absent. */
  webhookUrl?: string;
  /** Extra CA (PEM file) to trust for an https webhookUrl. */
  webhookCaFile?: string;
}

/** A stored record: the fields as stored (with defaults applied), plus `id`. */
export interface SimRecord {
  id: string;
  external_id: string | null;
  [field: string]: unknown;
}

export interface WindowStat {
  windowMs: number;
  /** The quota of this window (for a watched window: the quota it is compared with). */
  count: number;
  /** The largest number of accepted requests seen in any sliding window of `windowMs`. */
  max: number;
  /** False for a watched (measured only) window. */
  enforced: boolean;
}

export interface SimStats {
  /** Every request received except /__sim ones: /v1 API requests plus token requests. */
  requests: number;
  /** Of which: /v1 (and other non-token) API requests, and POST /oauth/token requests. */
  apiRequests: number;
  tokenRequests: number;
  /** API requests that passed authentication and the rate check: those that count against the quota. */
  counted: number;
  /** Responses sent, per status code ("201": 12). Dropped, reset and hung requests have none. */
  responses: Record<string, number>;
  /** 429s from the workspace quota (the token endpoint's own are in tokenRateLimited). */
  rateLimited: number;
  tokenRateLimited: number;
  /** Idempotent replays sent (Idempotent-Replayed: true). */
  replays: number;
  /** 409 outcomes by code, including per-record results of bulk imports; replays are not counted again. */
  conflicts: Record<string, number>;
  tokensIssued: number;
  records: Record<ResourceType, number>;
  /** For each external_id, how many records carry it. */
  externalIds: Record<ResourceType, Record<string, number>>;
  /** How many external_ids have more than one record. */
  duplicateExternalIds: Record<ResourceType, number>;
  maxInWindow: WindowStat[];
  /** The enforced windows. */
  limits: RateWindow[];
  /** How many times each fault was injected. */
  faults: Record<FaultKind, number>;
  imports: { requests: number; records: number };
  webhooks: { sent: number; failed: number; dropped: number; pending: number };
}

export interface Simulator {
  /** `https://host:port`, no trailing slash. */
  readonly url: string;
  /** The CA that signed the simulator's certificate (trust it to connect). */
  readonly caFile: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly apiKey: string;
  /** The current webhook signing secret. */
  readonly webhookSecret: string;
  stats(): SimStats;
  /** Stored records in creation order (copies). */
  records(type: ResourceType): SimRecord[];
  setFaults(f: Partial<FaultConfig>): void;
  faults(): FaultConfig;
  setLimits(l: RateWindow[]): void;
  /** Revokes every live OAuth token now, or at that epoch-ms time. API keys are not tokens: see revokeApiKey. */
  revokeAllTokens(atMs?: number): void;
  createClient(opts: { scopes: Scope[] }): { clientId: string; clientSecret: string };
  /** 'nxk_' + 43 url-safe characters. */
  createApiKey(opts: { scopes: Scope[]; brands?: string[] }): string;
  revokeApiKey(key: string): void;
  /** Starts signing with a new secret, keeping the previous one too (two v1= entries); returns the new one. */
  rotateWebhookSecret(): string;
  /** Resolves when every queued webhook delivery has been attempted. */
  flushWebhooks(): Promise<void>;
  /** Closes the server and every socket (hung ones too). */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
