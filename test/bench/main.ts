/**
 * `npm run bench [-- suite..] [--quick]`: runs the benchmark suites, prints a
 * table of figures beside their goals, and writes the results as JSON under
 * bench-results/ (gitignored). Suites register in SUITES below.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BenchFigure, BenchSuite } from './types.js';

const SUITES: Record<string, () => Promise<BenchSuite>> = {
  sim: async () => (await import('./sim.js')).simBench,
  store: async () => (await import('./store.js')).storeBench,
  limits: async () => (await import('./limits.js')).limitsBench,
  overhead: async () => (await import('./overhead.js')).overheadBench,
  e2e: async () => (await import('./e2e.js')).e2eBench,
};

/** Other names a suite answers to: the issue tracker calls the limits suite "quota". */
const ALIASES: Record<string, string> = { quota: 'limits', 'end-to-end': 'e2e' };

async function main(argv: string[]): Promise<number> {
  const quick = argv.includes('--quick');
  const asked = [...new Set(argv.filter((a) => !a.startsWith('--')).map((a) => ALIASES[a] ?? a))];
  const unknown = asked.filter((s) => !(s in SUITES));
  if (unknown.length) {
    process.stderr.write(`Unknown suite ${unknown.join(', ')}; known: ${[...Object.keys(SUITES), ...Object.keys(ALIASES)].join(', ')}\n`);
    return 1;
  }
  const names = asked.length ? asked : Object.keys(SUITES);
  const figures: BenchFigure[] = [];
  for (const name of names) {
    const tmpDir = mkdtempSync(path.join(os.tmpdir(), `nexus-bench-${name}-`));
    try {
      process.stderr.write(`\n== ${name}${quick ? ' (quick)' : ''}\n`);
      const suite = await SUITES[name]!();
      figures.push(...(await suite({ quick, tmpDir, log: (l) => process.stderr.write(`   ${l}\n`) })));
    } finally {
      rmSync(tmpDir, { recursive: true, force: true });
    }
  }
  printTable(figures);
  const dir = path.resolve('bench-results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), quick, host: { cpus: os.cpus().length, node: process.version }, figures }, null, 2));
  process.stdout.write(`\nresults: ${path.relative(process.cwd(), file)}\n`);
  return 0;
}

function printTable(figures: BenchFigure[]): void {
  const rows = figures.map((f) => [
    f.suite,
    f.name,
    `${formatValue(f.value)} ${f.unit}`,
    f.goal ?? '',
    f.met === undefined ? '' : f.met ? 'met' : 'MISSED',
  ]);
  const head = ['suite', 'figure', 'value', 'goal', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`\n${line(head)}\n${line(widths.map((w) => '-'.repeat(w)))}\n${rows.map(line).join('\n')}\n`);
}

function formatValue(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);
}

main(process.argv.slice(2)).then((code) => (process.exitCode = code));
