/**
 * Benchmark: the bundled sample migration end to end (data/sample:
 * organizations, users, tickets with comments, staged with the real `load`)
 * against the simulator enforcing the documented windows time-compressed
 * 10x: 600/6s and 150/1s (documented: 600/60s and 150/10s), 20 ms latency,
 * and a 1 s token lifetime so tokens are refreshed several times mid-run.
 * The runner is the real `nexus-backfill run --limit 600/6s --limit 150/1s`
 * (default concurrency) in its own process; the simulator in another.
 *
 * Figures: requests/s, the share of the physical limit (physicalLimit of
 * src/engine/migrate.ts: the most requests the windows allow from rest in
 * the run's elapsed time), 429s (goal 0, counted by the runner and by the
 * simulator), and items failed beyond the two tickets whose requester is
 * absent from the export (goal 0). Full: 3 runs (min / median / max); quick: 1.
 *
 * The uncompressed figure (the documented windows in real time) is NOT
 * measured: it would take ten times as long. The table shows the
 * extrapolation (compressed requests/s / 10) and says so.
 */
import { copyFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { physicalLimit } from '../../src/engine/migrate.js';
import { parseWindow } from '../../src/duration.js';
import { cleanEnv, lastJson, projectRoot, runCli, simEnv, spread, startSim, type SimStats } from './procs.js';
import type { BenchFigure, BenchSuite } from './types.js';

const LIMITS = ['600/6s', '150/1s'];
const DOCUMENTED = '600/60s and 150/10s';
const COMPRESSION = 10;
const LATENCY = '20ms';
const TOKEN_TTL = '1s';
/** Tickets 1 and 2 of the sample name a requester absent from the export (src/sources/sample-export.ts). */
const KNOWN_FAILURES = 2;

interface Summary {
  outcome: string;
  jobs: Record<string, { pending: number; done: number; failed: number; dead: number; invalid: number }>;
  requests: number;
  responses: Record<string, number>;
  retries: number;
  token_refreshes: number;
  elapsed_s: number;
  items_per_s: number;
  items_done: number;
  requests_per_s: number;
  quota_share: number;
  latency_ms: { p50: number; p95: number; p99: number };
}

interface RunFigures {
  requestsPerS: number;
  share: number;
  runnerShare: number;
  rateLimited: number;
  simRateLimited: number;
  unexpectedFailures: number;
  failedKeys: string[];
  itemsDone: number;
  requests: number;
  simCounted: number;
  elapsedS: number;
  wallS: number;
  tokenRefreshes: number;
  tokensIssued: number;
  retries: number;
  exitCode: number | null;
  maxInWindow: unknown;
}

export const e2eBench: BenchSuite = async ({ quick, tmpDir, log }) => {
  const runs = quick ? 1 : 3;
  const windows = LIMITS.map((l) => parseWindow(l));
  const sample = path.join(projectRoot(), 'data/sample');
  const baseDb = path.join(tmpDir, 'base.sqlite');
  for (const [job, file] of [
    ['zendesk-organizations', 'organizations.ndjson'],
    ['zendesk-users', 'users.ndjson'],
    ['zendesk-tickets', 'tickets.ndjson'],
  ] as const) {
    const r = await runCli(['load', job, path.join(sample, file), '--db', baseDb, '--json']);
    if (r.code !== 0) throw new Error(`load ${job} failed (${r.code}): ${r.stderr}`);
  }

  const one = async (k: number): Promise<RunFigures> => {
    const db = path.join(tmpDir, `run-${k}.sqlite`);
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(baseDb + suffix)) copyFileSync(baseDb + suffix, db + suffix);
    const sim = await startSim([...LIMITS.flatMap((l) => ['--limit', l]), '--latency', LATENCY, '--token-ttl', TOKEN_TTL]);
    try {
      const r = await runCli(['run', '--db', db, ...LIMITS.flatMap((l) => ['--limit', l]), '--no-progress', '--json'], { env: simEnv(sim.info), timeoutMs: 180_000 });
      const s = lastJson<Summary>(r, 'run');
      const stats: SimStats = await sim.stats();
      const failed: { key: string; state: string; message: string | null }[] = [];
      for (const job of Object.keys(s.jobs)) {
        const ex = await runCli(['export-failed', job, '--db', db], { env: cleanEnv() });
        for (const line of ex.stdout.split('\n').filter(Boolean)) failed.push(JSON.parse(line) as (typeof failed)[number]);
      }
      // The known failures: tickets 1001 and 1002, failed because their requester is absent.
      const known = failed.filter((f) => /^zendesk-tickets:100[12]$/.test(f.key) && f.state === 'failed' && /requester/i.test(f.message ?? ''));
      const totalBad = Object.values(s.jobs).reduce((a, c) => a + c.failed + c.dead + c.invalid + c.pending, 0);
      const limit = physicalLimit(windows, s.elapsed_s * 1000);
      return {
        requestsPerS: s.requests_per_s,
        share: s.requests / limit,
        runnerShare: s.quota_share,
        rateLimited: s.responses['429'] ?? 0,
        simRateLimited: stats.rateLimited,
        unexpectedFailures: totalBad - Math.min(known.length, KNOWN_FAILURES),
        failedKeys: failed.map((f) => `${f.key} ${f.state}: ${(f.message ?? '').slice(0, 120)}`),
        itemsDone: s.items_done,
        requests: s.requests,
        simCounted: stats.apiRequests,
        elapsedS: s.elapsed_s,
        wallS: r.wallMs / 1000,
        tokenRefreshes: s.token_refreshes,
        tokensIssued: stats.tokensIssued,
        retries: s.retries,
        exitCode: r.code,
        maxInWindow: stats.maxInWindow,
      };
    } finally {
      await sim.stop();
    }
  };

  const results: RunFigures[] = [];
  for (let k = 1; k <= runs; k++) {
    const f = await one(k);
    log(
      `run ${k}: exit ${f.exitCode}, ${f.itemsDone} items done, ${f.requests} requests in ${f.elapsedS.toFixed(2)} s (wall ${f.wallS.toFixed(2)} s) = ${f.requestsPerS.toFixed(1)} req/s, ` +
        `${(f.share * 100).toFixed(1)}% of the physical limit, 429s ${f.rateLimited} (simulator ${f.simRateLimited}), token refreshes ${f.tokenRefreshes}, ` +
        `retries ${f.retries}, unexpected failures ${f.unexpectedFailures}; max in window ${JSON.stringify(f.maxInWindow)}`,
    );
    if (f.unexpectedFailures) log(`failed items: ${f.failedKeys.join(' | ')}`);
    results.push(f);
  }

  const rps = spread(results.map((r) => r.requestsPerS));
  const share = spread(results.map((r) => r.share));
  const limited = Math.max(...results.map((r) => Math.max(r.rateLimited, r.simRateLimited)));
  const unexpected = Math.max(...results.map((r) => r.unexpectedFailures));
  const refreshes = spread(results.map((r) => r.tokenRefreshes));
  const range = (x: { min: number; max: number }, d: number) => (runs > 1 ? ` (${x.min.toFixed(d)}..${x.max.toFixed(d)})` : '');
  const label = `sample, ${LIMITS.join(' + ')} (10x compressed), ${LATENCY}`;
  const details = { limits: LIMITS, documented: DOCUMENTED, compression: COMPRESSION, latency: LATENCY, tokenTtl: TOKEN_TTL, runs: results };
  const figures: BenchFigure[] = [
    { suite: 'e2e', name: `requests/s, ${label}${runs > 1 ? `, median of ${runs}` : ''}`, value: round(rps.median, 1), unit: `req/s${range(rps, 1)}`, details },
    {
      suite: 'e2e',
      name: 'share of the physical limit over the run',
      value: round(share.median, 3),
      unit: `of limit${range(share, 3)}`,
    },
    { suite: 'e2e', name: '429s (runner and simulator, worst run)', value: limited, unit: 'responses', goal: '0', met: limited === 0 },
    { suite: 'e2e', name: `items failed beyond the ${KNOWN_FAILURES} absent-requester tickets (worst run)`, value: unexpected, unit: 'items', goal: '0', met: unexpected === 0 },
    { suite: 'e2e', name: `token refreshes mid-run (token TTL ${TOKEN_TTL}), median`, value: refreshes.median, unit: `refreshes${range(refreshes, 0)}` },
    {
      suite: 'e2e',
      name: `uncompressed (${DOCUMENTED}): NOT MEASURED, extrapolated /${COMPRESSION}`,
      value: round(rps.median / COMPRESSION, 1),
      unit: 'req/s (estimate)',
      details: { note: 'Not measured: the documented windows in real time would take ten times as long. Estimate = compressed requests/s / 10, assuming the windows, not latency or the client, bound the run.' },
    },
  ];
  return figures;
};

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
