/**
 * Store and staging figures (issue 3):
 * - staging NDJSON tickets of about 1 KB, items/s (goal >= 100,000), and the
 *   peak RSS of that load at 1,000,000 items (goal <= 200 MB), measured in a
 *   child process that does only the load, three times into a new store: the
 *   median rate and the highest peak RSS;
 * - claiming a page of 500 due items from 1,000,000 items of which 900,000 are
 *   done (goal <= 5 ms), median of repeated claims;
 * - beside it, the reference the issue gives for that goal ("a straightforward
 *   parse-and-insert loop measures about 45,000 here"): staging-baseline.ts
 *   and `load` on one smaller file of the same tickets, alternately, three
 *   times each; the figure is the median of the three ratios;
 * - the cost of logging one send durably (Store.recordSend, autocommit).
 * `--quick` uses 100,000 items for both (50,000 for the reference pairs).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { closeSync, fsyncSync, openSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchFigure, BenchSuite } from './types.js';
import { openStore } from '../../src/store/index.js';
import { sampleTickets, writeNdjson } from '../../src/sources/sample-export.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

export const storeBench: BenchSuite = async ({ quick, tmpDir, log }) => {
  const figures: BenchFigure[] = [];
  const n = quick ? 100_000 : 1_000_000;

  // Staging: a file of ~1 KB tickets, loaded by a child process.
  const file = path.join(tmpDir, 'tickets.ndjson');
  log(`writing ${n.toLocaleString('en-US')} tickets ...`);
  await writeNdjson(file, sampleTickets({ tickets: n, users: 5000, organizations: 200, descriptionBytes: 60 }));
  flushToDisk(file);
  const avgBytes = statSync(file).size / n;
  log(`average ticket: ${avgBytes.toFixed(0)} bytes; staging ...`);
  // Three loads, each into a new store, like the other figures' three pairs: one load is at the mercy of the
  // moment on a shared machine. On this VM the first load after the export is written is the slowest: memory
  // the guest has not touched for a while costs ~5x as much to write the first time (a 1.3 GB file: 41-52 vs
  // 7-8 us per 16 KB page, right after another 1.3 GB file was deleted), and a load writes a 1.4 GB store.
  const db = path.join(tmpDir, 'stage.sqlite');
  const loads: { records: number; elapsedMs: number; cpuUsPerRecord: number; maxRssMb: number; rate: number }[] = [];
  for (let k = 1; k <= 3; k++) {
    removeStore(db);
    const { stdout } = await run(process.execPath, [path.join(here, 'store-load-child.js'), db, 'zendesk-tickets', file], { maxBuffer: 1 << 20 });
    const child = JSON.parse(stdout) as Omit<(typeof loads)[number], 'rate'>;
    if (child.records !== n) throw new Error(`load ${k} staged ${child.records} records, expected ${n}`);
    loads.push({ ...child, rate: child.records / (child.elapsedMs / 1000) });
    log(`load ${k}: ${Math.round(loads.at(-1)!.rate)} items/s, ${child.cpuUsPerRecord} us CPU per record, peak RSS ${Math.round(child.maxRssMb)} MB`);
  }
  removeStore(db);
  const mid = [...loads].sort((a, b) => a.rate - b.rate)[1]!;
  const rates = loads.map((l) => Math.round(l.rate));
  figures.push({
    suite: 'store',
    name: `staging NDJSON ~${Math.round(avgBytes)} B tickets (${n.toLocaleString('en-US')}), median of 3 loads`,
    value: Math.round(mid.rate),
    unit: `items/s (loads in order: ${rates.map((r) => r.toLocaleString('en-US')).join(', ')})`,
    goal: '>= 100000',
    met: mid.rate >= 100_000,
    details: { loads, avgBytes },
  });
  const peak = Math.max(...loads.map((l) => l.maxRssMb));
  figures.push({ suite: 'store', name: `peak RSS staging ${n.toLocaleString('en-US')} items, highest of 3 loads`, value: Math.round(peak), unit: 'MB', goal: '<= 200', met: peak <= 200 });
  rmSync(file, { force: true });
  figures.push(await versusBaseline(quick ? 50_000 : 100_000, tmpDir, log));

  // Claim: n items, 90 % done.
  log('building the claim store ...');
  const store = openStore(path.join(tmpDir, 'claim.sqlite'), { mode: 'writer', command: 'bench' });
  try {
    const payload = '{"id":0,"subject":"bench"}';
    for (let i = 0; i < n; i += 20_000) {
      const recs = [];
      for (let j = i; j < Math.min(n, i + 20_000); j++) recs.push({ sourceId: String(j), payload, hash: String(j), line: j + 1 });
      store.stage('bench', 'bench.ndjson', recs);
    }
    const doneTarget = Math.floor(n * 0.9);
    for (let done = 0; done < doneTarget; ) {
      const page = store.claimDue('bench', Math.min(10_000, doneTarget - done), 1);
      store.recordOutcomes({ outcomes: page.map((it) => ({ id: it.id, kind: 'done' as const, targetId: `T${it.sourceId}` })) });
      done += page.length;
    }
    const times: number[] = [];
    for (let k = 0; k < 41; k++) {
      const t0 = performance.now();
      const page = store.claimDue('bench', 500, 2);
      times.push(performance.now() - t0);
      if (page.length !== 500) throw new Error(`claimed ${page.length} items, expected 500`);
      store.recordOutcomes({ outcomes: page.map((it) => ({ id: it.id, kind: 'release' as const })) });
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    figures.push({ suite: 'store', name: `claim 500 of ${n.toLocaleString('en-US')} items (90 % done), median`, value: Number(median.toFixed(2)), unit: 'ms', goal: '<= 5', met: median <= 5, details: { min: times[0], max: times.at(-1) } });

    // The durable send log: one autocommitted upsert per send, which must cost microseconds.
    const sendTimes: number[] = [];
    let at = Date.now();
    for (let k = 0; k < 2000; k++) {
      if (k % 3 !== 0) at++;
      const t0 = performance.now();
      store.recordSend(at);
      sendTimes.push((performance.now() - t0) * 1000);
    }
    store.pruneSends(at + 1);
    sendTimes.sort((a, b) => a - b);
    const sendMedian = sendTimes[Math.floor(sendTimes.length / 2)]!;
    figures.push({ suite: 'store', name: 'recordSend (autocommit), median', value: Number(sendMedian.toFixed(1)), unit: 'us', goal: '<= 50', met: sendMedian <= 50, details: { p90: sendTimes[Math.floor(sendTimes.length * 0.9)], max: sendTimes.at(-1) } });
  } finally {
    store.close();
  }
  return figures;
};

/** Deletes a store and what SQLite keeps beside it: each load is timed into a new one. */
function removeStore(db: string): void {
  for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(db + suffix, { force: true });
}

/**
 * Writes a just-generated export to disk before a load is timed. An export is usually on disk well before it
 * is loaded; this one's 1.25 GB would otherwise be written back by the kernel in the middle of the load (30 s
 * after it was written), sharing the disk with the load's own commits (measured: 1-4 % of the rate).
 */
function flushToDisk(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** `load` against the straightforward loop on one file of `n` tickets: A B A B A B, median of the pair ratios. */
async function versusBaseline(n: number, tmpDir: string, log: (line: string) => void): Promise<BenchFigure> {
  const file = path.join(tmpDir, 'tickets-ref.ndjson');
  await writeNdjson(file, sampleTickets({ tickets: n, users: 5000, organizations: 200, descriptionBytes: 60 }));
  flushToDisk(file);
  const db = path.join(tmpDir, 'ref.sqlite');
  const rateOf = async (script: string): Promise<number> => {
    removeStore(db);
    const { stdout } = await run(process.execPath, [path.join(here, script), db, 'zendesk-tickets', file], { maxBuffer: 1 << 20 });
    const r = JSON.parse(stdout) as { records: number; elapsedMs: number };
    if (r.records !== n) throw new Error(`${script} staged ${r.records} records, expected ${n}`);
    return r.records / (r.elapsedMs / 1000);
  };
  const pairs: { load: number; baseline: number; ratio: number }[] = [];
  for (let k = 1; k <= 3; k++) {
    const load = await rateOf('store-load-child.js');
    const baseline = await rateOf('staging-baseline.js');
    pairs.push({ load, baseline, ratio: load / baseline });
    log(`reference pair ${k}: load ${Math.round(load)} items/s, straightforward loop ${Math.round(baseline)} items/s, ratio ${(load / baseline).toFixed(2)}`);
  }
  rmSync(file, { force: true });
  const mid = [...pairs].sort((a, b) => a.ratio - b.ratio)[1]!;
  return {
    suite: 'store',
    name: `  load / straightforward loop, median of 3 pairs (${n.toLocaleString('en-US')} tickets)`,
    value: Number(mid.ratio.toFixed(2)),
    unit: `x (that pair: ${Math.round(mid.load)} vs ${Math.round(mid.baseline)} items/s; the issue's 100,000 vs 45,000 is 2.22 x)`,
    details: { pairs },
  };
}
