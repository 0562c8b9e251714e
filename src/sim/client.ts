/**
 * A small undici client for talking to a simulator from tests, the demo and
 * benchmarks (in this process or another): raw requests that never throw on
 * a status, plus the /__sim control endpoints. Not the runner's HTTP layer:
 * no retries, no classification, so tests see exactly what the server said.
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import type { FaultConfig, SimStats } from './types.js';

export interface SimResponse<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or the text when the body is not JSON. */
  body: T;
  text: string;
}

export interface SimRequest {
  method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** Sent as JSON unless a string (sent as is). */
  body?: unknown;
  /** Bearer credential: an access token or API key. */
  auth?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface SimClient {
  readonly url: string;
  readonly dispatcher: Dispatcher;
  send<T = any>(path: string, req?: SimRequest): Promise<SimResponse<T>>;
  /** POST /oauth/token with a form body built from `form`. */
  token(form: Record<string, string>): Promise<SimResponse>;
  stats(): Promise<SimStats>;
  setFaults(f: Partial<FaultConfig>): Promise<void>;
  close(): Promise<void>;
}

export function createSimClient(opts: { url: string; caFile: string; connections?: number }): SimClient {
  const agent = new Agent({ connect: { ca: readFileSync(opts.caFile) }, connections: opts.connections ?? 16 });
  const send = async <T>(path: string, req: SimRequest = {}): Promise<SimResponse<T>> => {
    const headers: Record<string, string> = { ...req.headers };
    if (req.auth) headers.authorization = `Bearer ${req.auth}`;
    let body: string | undefined;
    if (req.body !== undefined) {
      body = typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await request(`${opts.url}${path}`, { method: req.method ?? (body === undefined ? 'GET' : 'POST'), headers, body, dispatcher: agent, signal: req.signal });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON: keep the text.
    }
    return { status: res.statusCode, headers: res.headers, body: parsed as T, text };
  };
  return {
    url: opts.url,
    dispatcher: agent,
    send,
    token: (form) =>
      send('/oauth/token', {
        method: 'POST',
        body: new URLSearchParams(form).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
    stats: async () => (await send<SimStats>('/__sim/stats')).body,
    setFaults: async (f) => {
      const res = await send('/__sim/faults', { method: 'POST', body: f });
      if (res.status !== 200) throw new Error(`Setting simulator faults failed: ${res.status} ${res.text}`);
    },
    close: () => agent.close(),
  };
}
