/**
 * Benchmark: what the full engine costs over a bare request loop, with the
 * quota out of the way (goal: engine items/s >= 0.8 x bare items/s).
 *
 * Set-up, every part in its own process:
 * - the simulator: `nexus-backfill sim --no-limit --latency 0ms`, a fresh one
 *   per run, so external_id uniqueness and idempotency keys never trip;
 * - A, the engine: the real `nexus-backfill run --limit 1000000/1s
 *   --concurrency 16 --no-progress --json` over a store staged (once, with the
 *   real `load`, then copied per run) with N synthetic organizations with
 *   cheap bodies (id and name), so the server is not the bottleneck;
 * - B, the bare loop (overhead-bare.ts): an undici Pool with the same 16
 *   connections and 16 requests in flight, POSTing the same bodies with the
 *   Idempotency-Key and a bearer token.
 * A and B run alternately, A B A B A B; the figure is the median of the three
 * pairs' ratios (engine items/s from its own summary / bare items/s), with
 * every pair's ratio and the wall-time cross-check in the details.
 *
 * OVERHEAD_CPU_PROF=<dir> runs the engine child under `node --cpu-prof` and
 * leaves the profiles there; OVERHEAD_ITEMS=<n> overrides N; OVERHEAD_CLI=<path>
 * runs the engine side from another build's dist/src/cli/main.js (to A/B an
 * engine change against the same bare loop and simulator).
 */
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliPath, cpuSecondsOf, lastJson, median, runCli, runNodeMeasured, simEnv, spread, startSim, type ChildResult, type Rusage } from './procs.js';
import type { BenchFigure, BenchSuite } from './types.js';

const GOAL = 0.8;
const CONCURRENCY = 16;
const PAIRS = 3;
const ORG_BASE = 360_000_000;

interface RunSummaryJson {
  outcome: string;
  items_done: number;
  items_per_s: number;
  requests: number;
  elapsed_s: number;
  responses: Record<string, number>;
  latency_ms: { p50: number; p95: number; p99: number };
}

interface BareJson {
  items: number;
  elapsed_s: number;
  items_per_s: number;
  statuses: Record<string, number>;
}

interface Measured {
  itemsPerS: number;
  /** Items over the child's wall time, process start-up and exit included. */
  wallItemsPerS: number;
  elapsedS: number;
  wallS: number;
  records: number;
  /** The child's own CPU time (user + system) per item, in ms. */
  cpuMsPerItem: number;
  /** The kernel's share of it, in ms per item (socket writes, and the engine's WAL). */
  sysMsPerItem: number;
  /** The simulator's CPU time over the child's wall time, in cores. */
  simCores: number;
  /** The child's main thread: CPU time over wall time (1 = the JavaScript thread never waited). */
  mainBusy: number;
}

export const overheadBench: BenchSuite = async ({ quick, tmpDir, log }) => {
  const n = Number(process.env.OVERHEAD_ITEMS ?? (quick ? 2_000 : 20_000));
  const profDir = process.env.OVERHEAD_CPU_PROF;
  const here = path.dirname(fileURLToPath(import.meta.url));
  const bareScript = path.join(here, 'overhead-bare.js');

  // The export: N organizations with cheap bodies.
  const file = path.join(tmpDir, 'organizations.ndjson');
  const lines: string[] = [];
  for (let i = 1; i <= n; i++) lines.push(JSON.stringify({ id: ORG_BASE + i, name: `Bench org ${i}` }));
  writeFileSync(file, `${lines.join('\n')}\n`);
  const baseDb = path.join(tmpDir, 'base.sqlite');
  const staged = await runCli(['load', 'zendesk-organizations', file, '--db', baseDb, '--json']);
  if (staged.code !== 0) throw new Error(`load failed (${staged.code}): ${staged.stderr}`);
  log(`staged ${n.toLocaleString('en-US')} organizations in ${(staged.wallMs / 1000).toFixed(1)} s`);

  const measure = async (what: string, runChild: (sim: Awaited<ReturnType<typeof startSim>>, rusageFile: string) => Promise<ChildResult & { rusage?: Rusage }>, check: (r: ChildResult) => number, k: number): Promise<Measured> => {
    const sim = await startSim(['--no-limit', '--latency', '0ms']);
    try {
      const simCpu0 = cpuSecondsOf(sim.pid);
      const r = await runChild(sim, path.join(tmpDir, `${what}-${k}.rusage.json`));
      const simCpu1 = cpuSecondsOf(sim.pid);
      const itemsPerS = check(r);
      const elapsedS = lastJson<{ elapsed_s: number }>(r, what).elapsed_s;
      const stats = await sim.stats();
      return {
        itemsPerS,
        wallItemsPerS: n / (r.wallMs / 1000),
        elapsedS,
        wallS: r.wallMs / 1000,
        records: stats.records.organizations ?? 0,
        cpuMsPerItem: r.rusage ? (r.rusage.cpuS * 1000) / n : NaN,
        sysMsPerItem: r.rusage ? (r.rusage.systemS * 1000) / n : NaN,
        simCores: simCpu0 !== undefined && simCpu1 !== undefined ? (simCpu1 - simCpu0) / (r.wallMs / 1000) : NaN,
        mainBusy: r.rusage?.mainThreadBusy ?? NaN,
      };
    } finally {
      await sim.stop();
    }
  };

  const engineRun = (k: number): Promise<Measured> => {
    const db = path.join(tmpDir, `run-${k}.sqlite`);
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(baseDb + suffix)) copyFileSync(baseDb + suffix, db + suffix);
    return measure(
      'engine',
      (sim, rusageFile) =>
        runNodeMeasured(process.env.OVERHEAD_CLI ?? cliPath(), ['run', '--db', db, '--limit', '1000000/1s', '--concurrency', String(CONCURRENCY), '--no-progress', '--json'], rusageFile, {
          env: simEnv(sim.info),
          ...(profDir ? { execArgv: ['--cpu-prof', '--cpu-prof-dir', profDir] } : {}),
        }),
      (r) => {
        const s = lastJson<RunSummaryJson>(r, 'engine run');
        if (r.code !== 0 || s.outcome !== 'completed' || s.items_done !== n) {
          throw new Error(`The engine run did not complete (exit ${r.code}, ${s.outcome}, ${s.items_done}/${n} done): ${r.stderr.slice(-1000)}`);
        }
        return s.items_per_s;
      },
      k,
    );
  };

  const bareRun = (k: number): Promise<Measured> =>
    measure(
      'bare',
      (sim, rusageFile) => {
        const { url, ca_file, client_id, client_secret } = sim.info;
        return runNodeMeasured(bareScript, [url, ca_file, client_id, client_secret, file, String(CONCURRENCY)], rusageFile);
      },
      (r) => {
        const b = lastJson<BareJson>(r, 'bare loop');
        if (r.code !== 0 || b.items !== n) throw new Error(`The bare loop did not complete (exit ${r.code}, ${b.items}/${n} created, ${JSON.stringify(b.statuses)}): ${r.stderr.slice(-1000)}`);
        return b.items_per_s;
      },
      k,
    );

  const pairs: { engine: Measured; bare: Measured; ratio: number; wallRatio: number }[] = [];
  for (let k = 1; k <= PAIRS; k++) {
    const engine = await engineRun(k);
    log(`pair ${k} A engine: ${describe(engine)}`);
    const bare = await bareRun(k);
    log(`pair ${k} B bare:   ${describe(bare)}`);
    if (engine.records !== n || bare.records !== n) throw new Error(`The simulator holds ${engine.records} (engine) and ${bare.records} (bare) organizations, expected ${n} each.`);
    const ratio = engine.itemsPerS / bare.itemsPerS;
    const wallRatio = engine.wallItemsPerS / bare.wallItemsPerS;
    log(`pair ${k} ratio ${ratio.toFixed(3)} (by wall time ${wallRatio.toFixed(3)})`);
    pairs.push({ engine, bare, ratio, wallRatio });
  }

  const ratios = spread(pairs.map((p) => p.ratio));
  const wallRatios = spread(pairs.map((p) => p.wallRatio));
  const cpuRatios = spread(pairs.map((p) => p.bare.cpuMsPerItem / p.engine.cpuMsPerItem));
  const engineRates = spread(pairs.map((p) => p.engine.itemsPerS));
  const bareRates = spread(pairs.map((p) => p.bare.itemsPerS));
  const common = { items: n, concurrency: CONCURRENCY, body: 'organization {external_id, name, domain_names: [], details: null, notes: null, tags: []}' };
  const figures: BenchFigure[] = [
    {
      suite: 'overhead',
      name: `engine / bare undici items/s, median of ${PAIRS} pairs (${n.toLocaleString('en-US')} orgs, c=${CONCURRENCY})`,
      value: round(ratios.median, 3),
      unit: 'x',
      goal: `>= ${GOAL}`,
      met: ratios.median >= GOAL,
      details: { ...common, ratios, wallRatios, pairs },
    },
    ...pairs.map((p, i) => ({ suite: 'overhead', name: `  pair ${i + 1} ratio (by wall time ${p.wallRatio.toFixed(3)})`, value: round(p.ratio, 3), unit: 'x' })),
    { suite: 'overhead', name: '  engine items/s min / median / max', value: Math.round(engineRates.median), unit: `items/s (${Math.round(engineRates.min)}..${Math.round(engineRates.max)})` },
    { suite: 'overhead', name: '  bare undici items/s min / median / max', value: Math.round(bareRates.median), unit: `items/s (${Math.round(bareRates.min)}..${Math.round(bareRates.max)})` },
    {
      suite: 'overhead',
      name: '  bare / engine CPU per item, median (steadier on a noisy machine)',
      value: round(cpuRatios.median, 3),
      unit: `x (${cpuRatios.min.toFixed(3)}..${cpuRatios.max.toFixed(3)}); engine ${median(pairs.map((p) => p.engine.cpuMsPerItem)).toFixed(3)} vs bare ${median(pairs.map((p) => p.bare.cpuMsPerItem)).toFixed(3)} CPU ms/item`,
    },
    { suite: 'overhead', name: '  ratio by wall time, median (process start-up included)', value: round(wallRatios.median, 3), unit: `x (${wallRatios.min.toFixed(3)}..${wallRatios.max.toFixed(3)})` },
  ];
  return figures;
};

function describe(m: Measured): string {
  return (
    `${m.itemsPerS.toFixed(0)} items/s (own clock, ${m.elapsedS.toFixed(2)} s), ${m.wallItemsPerS.toFixed(0)} items/s by wall time (${m.wallS.toFixed(2)} s), ` +
    `${m.cpuMsPerItem.toFixed(3)} CPU ms/item (${m.sysMsPerItem.toFixed(3)} system), main thread busy ${(m.mainBusy * 100).toFixed(0)}%, simulator ${m.simCores.toFixed(2)} cores, ${m.records} records`
  );
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
