/**
 * Benchmark: how many requests per second the simulator serves with the quota
 * lifted and no latency, so we know it is never what a runner benchmark
 * measures (goal: >= 5,000 req/s on the 2-core reference machine).
 *
 * Honest set-up: the simulator runs as the real CLI (`nexus-backfill sim
 * --no-limit`) in its own process; this process drives it with an undici Pool
 * (keep-alive, pipelining) over HTTPS. Client and server share the machine's
 * cores, so the achieved rate is a floor; on Linux we also read the server's
 * CPU time from /proc and report its capacity per CPU-second, which says how
 * far the server itself is from its limit.
 *
 * Two figures: POST /v1/tickets with an Idempotency-Key and a unique
 * external_id (the runner's typical request: validation, references,
 * idempotency and uniqueness all exercised) and GET /v1/tickets/{id}.
 */
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import type { BenchFigure, BenchSuite } from './types.js';
import { cpuSecondsOf, startSim } from './procs.js';

const GOAL = 5000;

export const simBench: BenchSuite = async ({ quick, log }) => {
  const seconds = quick ? 2 : 8;
  const sim = await startSim(['--no-limit']);
  const pool = new Pool(sim.info.url, {
    connections: Number(process.env.SIM_BENCH_CONNECTIONS ?? 4),
    pipelining: Number(process.env.SIM_BENCH_PIPELINING ?? 32),
    connect: { ca: readFileSync(sim.info.ca_file) },
  });
  const auth = `Bearer ${sim.info.api_key}`;
  const figures: BenchFigure[] = [];
  try {
    const user = await call(pool, 'POST', '/v1/users', auth, JSON.stringify({ name: 'Bench User' }));
    const userId = (JSON.parse(user) as { id: string }).id;
    const run = Date.now().toString(36);
    // Prebuilt body halves keep the client's per-request work small.
    const head = `{"subject":"Bench ticket","requester_id":"${userId}","tags":["bench"],"comments":[{"author_id":"${userId}","body":"hello"}],"external_id":"${run}-`;
    let ticketId = '';
    const post = async (i: number) => {
      const body = await call(pool, 'POST', '/v1/tickets', auth, `${head}${i}"}`, { 'idempotency-key': `${run}-${i}` }, 201);
      if (!ticketId) ticketId = (JSON.parse(body) as { id: string }).id;
    };
    await drive(post, 0.5, 128); // warm-up: connections, JIT
    for (const [name, fn] of [
      ['POST /v1/tickets (idempotent create)', post],
      ['GET /v1/tickets/{id}', () => call(pool, 'GET', `/v1/tickets/${ticketId}`, auth)],
    ] as const) {
      const cpuBefore = cpuSecondsOf(sim.pid);
      const { count, elapsedS } = await drive(fn, seconds, 128);
      const cpuAfter = cpuSecondsOf(sim.pid);
      const rate = count / elapsedS;
      const busy = cpuBefore !== undefined && cpuAfter !== undefined ? (cpuAfter - cpuBefore) / elapsedS : undefined;
      log(`${name}: ${Math.round(rate)} req/s over ${elapsedS.toFixed(1)} s${busy !== undefined ? `, server CPU ${(busy * 100).toFixed(0)}% of one core` : ''}`);
      figures.push({
        suite: 'sim',
        name,
        value: Math.round(rate),
        unit: 'req/s',
        goal: `>= ${GOAL}`,
        met: rate >= GOAL,
        details: {
          requests: count,
          seconds: elapsedS,
          serverCpuFraction: busy,
          serverCapacityPerCpuSecond: busy ? Math.round(rate / busy) : undefined,
          client: 'undici Pool, 8 connections x pipelining 16, 128 in flight, separate process from the simulator',
        },
      });
      if (busy) {
        figures.push({ suite: 'sim', name: `${name}, per server CPU-second`, value: Math.round(rate / busy), unit: 'req/cpu-s', goal: `>= ${GOAL}`, met: rate / busy >= GOAL });
      }
    }
  } finally {
    await pool.close();
    await sim.stop();
  }
  return figures;
};

/** Runs `fn` with `inFlight` concurrent loops for `seconds`; counts completions. */
async function drive(fn: (i: number) => Promise<unknown>, seconds: number, inFlight: number): Promise<{ count: number; elapsedS: number }> {
  let issued = 0;
  let count = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await fn(issued++);
        count++;
      }
    }),
  );
  return { count, elapsedS: (performance.now() - start) / 1000 };
}

async function call(pool: Pool, method: 'GET' | 'POST', path: string, auth: string, body?: string, extra: Record<string, string> = {}, expect = method === 'POST' ? 201 : 200): Promise<string> {
  const res = await pool.request({
    method,
    path,
    // undici pipelines only requests marked idempotent; these POSTs carry an
    // Idempotency-Key, so they are, and pipelining them keeps the client cheap.
    idempotent: true,
    headers: body === undefined ? { authorization: auth, ...extra } : { authorization: auth, 'content-type': 'application/json', ...extra },
    body,
  });
  const text = await res.body.text();
  if (res.statusCode !== expect) throw new Error(`Bench request ${method} ${path} answered ${res.statusCode}, expected ${expect}: ${text.slice(0, 200)}`);
  return text;
}
