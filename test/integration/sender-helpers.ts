/**
 * Shared set-up of the sender integration tests: a simulator, the real HTTP
 * client, token provider, gate and sender over real sockets, and `drive`, a
 * miniature of the engine's loop (send, classify, sleep, retry) so tests can
 * say "no item failed".
 */
import { systemClock } from '../../src/clock.js';
import { createApiKeyProvider } from '../../src/auth/api-key.js';
import { createClientCredentialsProvider } from '../../src/auth/client-credentials.js';
import type { TokenProvider } from '../../src/auth/provider.js';
import { classify, responseFacts, type Outcome } from '../../src/engine/outcome.js';
import { createSender, type SendSpec, type Sender, type SenderEvent } from '../../src/engine/sender.js';
import { createHttpClient, type HttpClient } from '../../src/http/client.js';
import { scaleBackoff, RATE_LIMIT_BACKOFF, RETRY_BACKOFF } from '../../src/limits/backoff.js';
import { createGate, type Gate } from '../../src/limits/gate.js';
import { startSimulator, type SimOptions, type Simulator } from '../../src/sim/index.js';
import type { RateWindow } from '../../src/types.js';

export interface Rig {
  sim: Simulator;
  http: HttpClient;
  auth: TokenProvider;
  gate: Gate;
  sender: Sender;
  events: SenderEvent[];
  close(): Promise<void>;
}

export async function startRig(
  simOpts: SimOptions,
  o: { windows?: RateWindow[]; concurrency?: number; timeoutMs?: number; apiKey?: string | true; clientId?: string; clientSecret?: string; timeScale?: number } = {},
): Promise<Rig> {
  const sim = await startSimulator(simOpts);
  const concurrency = o.concurrency ?? 8;
  const http = createHttpClient({ baseUrl: sim.url, caFile: sim.caFile, concurrency: concurrency + 1, timeoutMs: o.timeoutMs ?? 10_000 });
  const auth = o.apiKey
    ? createApiKeyProvider({ apiKey: o.apiKey === true ? sim.apiKey : o.apiKey })
    : createClientCredentialsProvider({ http, clientId: o.clientId ?? sim.clientId, clientSecret: o.clientSecret ?? sim.clientSecret, clock: systemClock });
  const gate = createGate({
    windows: o.windows ?? [],
    concurrency,
    clock: systemClock,
    // Time-compressed windows: the 1 s .. 60 s pause after a bare 429 shrinks with them.
    rateLimitBackoff: scaleBackoff(RATE_LIMIT_BACKOFF, o.timeScale ?? 0.1),
  });
  const events: SenderEvent[] = [];
  const sender = createSender({ http, auth, gate, clock: systemClock, onEvent: (e) => events.push(e) });
  return {
    sim,
    http,
    auth,
    gate,
    sender,
    events,
    async close() {
      gate.close();
      auth.close();
      await http.close();
      await sim.close();
    },
  };
}

export interface Driven {
  outcomes: Outcome[];
  attempts: number[];
  sends: number;
  rateLimited: number;
}

/** The engine's loop in miniature: every spec until done/failed/dead, with classify deciding. */
export async function drive(rig: Rig, specs: SendSpec[], maxAttempts = 8, workers = 16): Promise<Driven> {
  const out: Driven = { outcomes: [], attempts: [], sends: 0, rateLimited: 0 };
  const backoff = scaleBackoff(RETRY_BACKOFF, 0.1);
  let next = 0;
  const one = async (spec: SendSpec, i: number) => {
      for (let attempt = 1; ; attempt++) {
        const r = await rig.sender.send(spec);
        out.sends += r.sends;
        out.rateLimited += r.rateLimited;
        const facts = r.response ? responseFacts(r.response, Date.now()) : { networkError: r.error!.kind };
        const o = classify({ ...facts, attempt, maxAttempts, random: Math.random(), authReplayed: r.authReplayed, backoff });
        if (o.kind === 'retry' || o.kind === 'rate_limited') {
          await systemClock.sleep(o.delayMs);
          continue;
        }
        out.outcomes[i] = o;
        out.attempts[i] = attempt;
        return;
      }
  };
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < specs.length) {
        const i = next++;
        await one(specs[i]!, i);
      }
    }),
  );
  return out;
}

export const orgSpecs = (n: number, prefix = 'org'): SendSpec[] =>
  Array.from({ length: n }, (_, i) => ({
    method: 'POST',
    path: '/v1/organizations',
    body: { external_id: `${prefix}-${i}`, name: `Org ${i}` },
    idempotencyKey: `zendesk-organizations:${prefix}-${i}`,
  }));

export const brandSpecs = (n: number): SendSpec[] => Array.from({ length: n }, () => ({ method: 'GET', path: '/v1/brands' }));

export function kinds(outcomes: Outcome[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const o of outcomes) c[o.kind] = (c[o.kind] ?? 0) + 1;
  return c;
}
