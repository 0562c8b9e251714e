/**
 * Idempotency-Key handling (docs/nexuscore-api.md, Idempotency). The
 * workspace remembers a key from its first use for `ttlMs`:
 * - same key, same method + path + body: replay the first response;
 * - same key, anything else different: 422 idempotency_key_reused;
 * - same key while the first request is still being processed: 409 idempotency_key_in_use.
 * "Same body" means the same bytes (compared by SHA-256): a client that
 * re-serializes differently has sent a different request.
 *
 * A request that ends without a stored outcome (a 5xx fault, a reset, a hang
 * the client gave up on) releases its key, so a resend runs afresh; one that
 * stored something (even if the response was then dropped) keeps it.
 */
import { createHash } from 'node:crypto';
import type { Reply } from './reply.js';

interface Entry {
  fingerprint: string;
  expiresAt: number;
  /** Undefined while the first request is in progress. */
  reply?: Reply;
}

export type Claim =
  | { kind: 'new'; key: string }
  | { kind: 'replay'; reply: Reply }
  | { kind: 'in_use' }
  | { kind: 'reused' };

export interface IdempotencyStore {
  claim(key: string, method: string, path: string, body: Buffer, nowMs: number): Claim;
  complete(key: string, reply: Reply): void;
  release(key: string): void;
  readonly size: number;
}

/** 1 to 255 printable ASCII characters. */
export function isValidIdempotencyKey(key: string): boolean {
  return key.length >= 1 && key.length <= 255 && /^[\x20-\x7e]+$/.test(key);
}

export function createIdempotencyStore(ttlMs: number): IdempotencyStore {
  return new Store(ttlMs);
}

class Store implements IdempotencyStore {
  #ttlMs: number;
  /** Insertion order = expiry order (one TTL for all), so expired entries are pruned from the front. */
  #entries = new Map<string, Entry>();

  constructor(ttlMs: number) {
    this.#ttlMs = ttlMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  claim(key: string, method: string, path: string, body: Buffer, nowMs: number): Claim {
    this.#prune(nowMs);
    const fingerprint = `${method} ${path} ${createHash('sha256').update(body).digest('base64')}`;
    const entry = this.#entries.get(key);
    if (entry && (entry.expiresAt > nowMs || !entry.reply)) {
      if (!entry.reply) return { kind: 'in_use' };
      if (entry.fingerprint !== fingerprint) return { kind: 'reused' };
      return { kind: 'replay', reply: entry.reply };
    }
    if (entry) this.#entries.delete(key);
    this.#entries.set(key, { fingerprint, expiresAt: nowMs + this.#ttlMs });
    return { kind: 'new', key };
  }

  complete(key: string, reply: Reply): void {
    const entry = this.#entries.get(key);
    if (entry) entry.reply = reply;
  }

  release(key: string): void {
    const entry = this.#entries.get(key);
    if (entry && !entry.reply) this.#entries.delete(key);
  }

  #prune(nowMs: number): void {
    for (const [key, entry] of this.#entries) {
      // An entry still in progress outlives its TTL: it is released or completed soon.
      if (entry.expiresAt > nowMs || !entry.reply) break;
      this.#entries.delete(key);
    }
  }
}
