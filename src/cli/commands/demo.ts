/**
 * `nexus-backfill demo` (`npm run demo`): the whole product in one command,
 * with nothing but `npm install` before it. Starts the embedded simulator,
 * stages the bundled Zendesk sample export into a fresh store, migrates it
 * with live progress, and prints the throughput report.
 *
 * The simulator is set up so the run visibly does what the tool is for:
 * tokens that live a few seconds (refreshed mid-job), a workspace quota
 * stricter than the runner is told (429s, Retry-After, the adaptive rate),
 * a few injected 5xx (retried), and two sample tickets whose requester is
 * missing from the export (failed, with what to do).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { systemClock } from '../../clock.js';
import { formatWindow } from '../../duration.js';
import { migrate, physicalLimit } from '../../engine/migrate.js';
import { createProgressReporter } from '../../report/progress.js';
import { formatRunSummary } from '../../report/summary.js';
import { startSimulator } from '../../sim/index.js';
import { openStore } from '../../store/index.js';
import { sampleDir } from '../../paths.js';
import type { RateWindow } from '../../types.js';
import { loadFiles } from './load.js';
import { SAMPLE_BRANDS } from './sim.js';
import type { GlobalArgs } from '../options.js';
import type { CommandSpec } from './command.js';

/** What the runner is told: the documented quota, compressed 10x so the demo takes seconds, not minutes. */
const RUNNER_WINDOWS: RateWindow[] = [
  { count: 600, windowMs: 6_000 },
  { count: 150, windowMs: 1_000 },
];
/** What the demo workspace really allows: stricter than the runner was told, as a busy shared tenant is. */
const SERVER_WINDOWS: RateWindow[] = [
  { count: 180, windowMs: 6_000 },
  { count: 40, windowMs: 1_000 },
];

interface DemoArgs extends GlobalArgs {
  dir: string;
  'token-ttl': number;
}

export const demoCommand: CommandSpec = {
  command: 'demo',
  describe: 'Migrate the bundled sample Zendesk export into an embedded simulator, with live progress and a report',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 demo\n\n' +
          'Starts the NexusCore simulator in this process, stages data/sample (organizations, users,\n' +
          'tickets with comments, brands) into a fresh store, and migrates it: short-lived tokens are\n' +
          'refreshed mid-job, a quota stricter than configured is met with 429s and adaptive backoff,\n' +
          'injected 5xx errors are retried, and two tickets whose requester is missing fail with the\n' +
          'reason. Each demo starts from a clean store.',
      )
      .option('dir', { type: 'string', default: 'data/demo', describe: 'Where the demo store is written (replaced on each demo)' })
      .option('token-ttl', { type: 'number', default: 4, describe: 'Simulator token lifetime in seconds (short, so refreshes happen)' })
      .example('$0 demo', 'The whole migration in under a minute; ends with the commands to explore the store')
      .example('$0 demo --json', 'The run summary and what the simulator saw, as one JSON document'),
  handler: async (args: DemoArgs) => {
    // Human text goes to stdout, unless --json claims it for the one JSON document.
    const out = (s = '') => (args.json ? process.stderr : process.stdout).write(`${s}\n`);
    const samples = sampleDir();
    const dir = path.resolve(args.dir);
    const db = path.join(dir, 'demo.sqlite');
    freshStore(dir, db);

    const sim = await startSimulator({
      tokenTtlS: args['token-ttl'],
      limits: SERVER_WINDOWS,
      brands: [...SAMPLE_BRANDS],
      seed: 42,
      faults: { error500: 0.01, error502: 0.005, error503: 0.015, latencyMs: 15, jitterMs: 20 },
    });
    try {
      out(`NexusCore simulator listening on ${sim.url}`);
      out(`  tokens live ${args['token-ttl']} s; the workspace allows ${SERVER_WINDOWS.map(formatWindow).join(' and ')}`);
      out(`  the runner is told ${RUNNER_WINDOWS.map(formatWindow).join(' and ')} (the documented quota, 10x compressed), so it meets 429s and adapts`);
      out(`  about 2.5% of requests get an injected 500/502/503\n`);

      out(`Staging the sample export from ${path.relative(process.cwd(), samples) || samples}`);
      for (const [job, file] of [
        ['zendesk-brands', 'brands.json'],
        ['zendesk-organizations', 'organizations.ndjson'],
        ['zendesk-users', 'users.ndjson'],
        ['zendesk-tickets', 'tickets.ndjson'],
      ] as const) {
        const r = await loadFiles({ db, job, files: [path.join(samples, file)] });
        out(`  ${job.padEnd(22)} ${String(r.counts.new).padStart(4)} staged${r.counts.invalid ? `, ${r.counts.invalid} invalid` : ''}`);
      }
      out('\nMigrating (organizations, then users, then tickets with comments)');

      const stop = new AbortController();
      const onSignal = () => stop.abort(new Error('interrupted'));
      process.once('SIGINT', onSignal);
      const progress = createProgressReporter({ intervalMs: process.stderr.isTTY ? 250 : 2000 });
      let result;
      try {
        result = await migrate({
          db,
          baseUrl: sim.url,
          caFile: sim.caFile,
          jobs: [],
          credentials: { mode: 'client_credentials', clientId: sim.clientId, clientSecret: sim.clientSecret },
          windows: RUNNER_WINDOWS,
          concurrency: 8,
          maxAttempts: 8,
          timeoutMs: 10_000,
          clock: systemClock,
          signal: stop.signal,
          onEvent: progress.onEvent,
        });
      } finally {
        progress.stop();
        process.off('SIGINT', onSignal);
      }
      const { summary, exitCode } = result;
      const stats = sim.stats();
      if (args.json) process.stdout.write(`${JSON.stringify({ ...summary, simulator: { records: stats.records, rate_limited: stats.rateLimited, tokens_issued: stats.tokensIssued, duplicate_external_ids: stats.duplicateExternalIds } })}\n`);
      out('');
      out(formatRunSummary(summary));
      out('');
      out('What the simulator saw:');
      out(`  records created: ${stats.records.organizations} organizations, ${stats.records.users} users, ${stats.records.tickets} tickets`);
      const dup = Object.values(stats.duplicateExternalIds).reduce((a, b) => a + b, 0);
      out(`  duplicates by external_id: ${dup}; idempotent replays: ${stats.replays}; 429s sent: ${stats.rateLimited}; tokens issued: ${stats.tokensIssued}`);
      out(`  most requests accepted in any window: ${stats.maxInWindow.map((w) => `${w.max}/${w.windowMs / 1000}s (limit ${w.count})`).join(', ')}`);
      const real = physicalLimit(SERVER_WINDOWS, summary.elapsed_s * 1000);
      // The run's own share is against what the runner was told (above); this one against the stricter real quota.
      out(
        `  the workspace's real quota (${SERVER_WINDOWS.map(formatWindow).join(', ')}, stricter than the runner was told) allowed at most ${real} requests in ${summary.elapsed_s.toFixed(1)} s: the run used ${((summary.requests / real) * 100).toFixed(0)}% of it`,
      );

      const store = openStore(db, { mode: 'reader' });
      try {
        const failed = [...store.iterateItems('zendesk-tickets', ['failed', 'dead'])].slice(0, 5);
        if (failed.length) {
          out('\nItems that need a person (the first few):');
          for (const f of failed) out(`  ${f.key} (${path.basename(f.file ?? '?')}:${f.line}): ${f.error?.message ?? f.reason}`);
        }
      } finally {
        store.close();
      }
      const rel = path.relative(process.cwd(), db) || db;
      out(`\nThe store is ${rel}. Explore it:`);
      out(`  npx nexus-backfill status --db ${rel}`);
      out(`  npx nexus-backfill export-failed zendesk-tickets --db ${rel}`);
      out(`  npx nexus-backfill retry zendesk-tickets --db ${rel}`);
      out(`  npx nexus-backfill report --db ${rel} --html report.html`);
      // The demo succeeded if the migration ran to its end; the two failed tickets are part of the show.
      return exitCode === 2 || exitCode === 0 ? 0 : exitCode;
    } finally {
      await sim.close();
    }
  },
};

/** Replaces the demo store, refusing while another demo still holds it. */
function freshStore(dir: string, db: string): void {
  mkdirSync(dir, { recursive: true });
  if (existsSync(db)) openStore(db, { mode: 'writer', command: 'demo' }).close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${db}${suffix}`, { force: true });
}
