/**
 * Webhook deliveries: events queue in memory and a few workers POST them,
 * signed, to the configured URL. Fire-and-forget by design: the API path only
 * enqueues (O(1)), and a receiver that is down, slow or refusing costs a
 * counted failure, never an exception or a slower API. One attempt each: the
 * simulator tests signatures, not delivery guarantees.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { signWebhookPayload, SIGNATURE_HEADER } from '../webhook/sign.js';
import type { WebhookEvent } from './store.js';

export interface WebhookSenderOptions {
  url: string;
  caFile?: string;
  /** The secrets to sign with, current first; read at send time so rotation applies at once. */
  secrets: () => readonly string[];
}

export interface WebhookStats {
  sent: number;
  failed: number;
  dropped: number;
  pending: number;
}

export interface WebhookSender {
  emit(event: WebhookEvent): void;
  stats(): WebhookStats;
  /** Resolves when the queue is empty and nothing is in flight. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

const MAX_QUEUE = 10_000;
const WORKERS = 4;
const TIMEOUT_MS = 5_000;

export function createWebhookSender(opts: WebhookSenderOptions): WebhookSender {
  return new Sender(opts);
}

/** Does nothing: the simulator runs without a webhook URL. */
export const noWebhooks: WebhookSender = {
  emit: () => {},
  stats: () => ({ sent: 0, failed: 0, dropped: 0, pending: 0 }),
  flush: async () => {},
  close: async () => {},
};

class Sender implements WebhookSender {
  #opts: WebhookSenderOptions;
  #agent: Agent;
  #queue: string[] = [];
  #active = 0;
  #closed = false;
  #idle: (() => void)[] = [];
  #stats = { sent: 0, failed: 0, dropped: 0 };

  constructor(opts: WebhookSenderOptions) {
    const url = new URL(opts.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`Expected the webhook URL to be http(s), got ${opts.url}.`);
    }
    this.#opts = opts;
    this.#agent = new Agent({
      connections: WORKERS,
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
      connect: { timeout: TIMEOUT_MS, ...(opts.caFile ? { ca: readFileSync(opts.caFile) } : {}) },
    });
  }

  emit(event: WebhookEvent): void {
    if (this.#closed) return;
    // Serialized now: the record may change before the delivery goes out.
    const body = JSON.stringify({
      id: `evt_${randomBytes(12).toString('hex')}`,
      type: event.type,
      created_at: new Date().toISOString(),
      data: event.data,
    });
    if (this.#queue.length >= MAX_QUEUE) {
      this.#queue.shift();
      this.#stats.dropped++;
    }
    this.#queue.push(body);
    if (this.#active < WORKERS) void this.#work();
  }

  stats(): WebhookStats {
    return { ...this.#stats, pending: this.#queue.length + this.#active };
  }

  flush(): Promise<void> {
    if (this.#queue.length === 0 && this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stats.dropped += this.#queue.length;
    this.#queue = [];
    await this.#agent.destroy().catch(() => {});
    this.#wake();
  }

  async #work(): Promise<void> {
    this.#active++;
    try {
      for (let body = this.#queue.shift(); body !== undefined && !this.#closed; body = this.#queue.shift()) {
        try {
          const res = await request(this.#opts.url, {
            method: 'POST',
            dispatcher: this.#agent,
            headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signWebhookPayload(body, this.#opts.secrets()) },
            body,
          });
          await res.body.dump();
          if (res.statusCode >= 200 && res.statusCode < 300) this.#stats.sent++;
          else this.#stats.failed++;
        } catch {
          this.#stats.failed++;
        }
      }
    } finally {
      this.#active--;
      this.#wake();
    }
  }

  #wake(): void {
    if ((this.#queue.length === 0 || this.#closed) && this.#active === 0) {
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }
}
