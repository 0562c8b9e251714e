/**
 * `nexus-backfill run [job..]`: sends every pending item of the named jobs
 * (all jobs with work when none is named) in dependency order. Running it
 * again resumes where the last run stopped.
 *
 * Signals: the first SIGINT/SIGTERM stops claiming, lets requests on the wire
 * finish (bounded by --timeout), checkpoints and exits 130; a second one
 * exits at once (the store stays consistent: unfinished items are re-sent
 * with the same Idempotency-Key next time).
 */
import type { Argv } from 'yargs';
import { resolveCredentials } from '../../auth/credentials.js';
import { systemClock } from '../../clock.js';
import { parseDuration, parseWindow, formatWindow } from '../../duration.js';
import { UsageError } from '../../errors.js';
import { dryRun } from '../../engine/dry-run.js';
import { migrate } from '../../engine/migrate.js';
import { createProgressReporter } from '../../report/progress.js';
import { formatRunSummary } from '../../report/summary.js';
import { DEFAULT_WINDOWS } from '../../types.js';
import type { GlobalArgs } from '../options.js';
import type { CommandSpec } from './command.js';

interface RunArgs extends GlobalArgs {
  job?: string[];
  limit?: string[];
  concurrency: number;
  'max-attempts': number;
  timeout: string;
  'dry-run': boolean;
  'client-secret-file'?: string;
  'api-key-file'?: string;
  'brand-map'?: string;
  progress: boolean;
}

export const runCommand: CommandSpec = {
  command: 'run [job..]',
  describe: 'Send every pending item of the named jobs (all jobs with work when none is named); run again to resume',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 run [job..] [options]\n\n' +
          'Sends staged items to NexusCore in dependency order (organizations, then users, then tickets),\n' +
          'within every quota window at once, refreshing tokens as they expire. Stop it any time\n' +
          '(Ctrl-C, a crash, a lost token): the same command resumes, and nothing is created twice.\n' +
          'Naming a job also sends the pending items of the jobs it depends on.',
      )
      .positional('job', { type: 'string', array: true, describe: 'Jobs to run (nexus-backfill jobs lists them)' })
      .option('limit', {
        type: 'string',
        array: true,
        // One value per --limit (repeat it for more): with any number, `--limit 300/60s zendesk-tickets` read the
        // job as a second window and stopped on it.
        nargs: 1,
        describe: 'Workspace quota N/WINDOW the runner keeps to, repeatable, all at once (600/60s, 150/10s, 10/1s)',
        defaultDescription: DEFAULT_WINDOWS.map(formatWindow).join(' and '),
      })
      .option('concurrency', { type: 'number', default: 8, describe: 'Requests in flight at most' })
      .option('max-attempts', { type: 'number', default: 8, describe: 'Tries per item before it is dead (a 429 is not a failed try)' })
      .option('timeout', { type: 'string', default: '30s', describe: 'Per request, headers and body (30s, 2m)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'Map and validate every pending item; send nothing, change nothing' })
      .option('client-secret-file', { type: 'string', describe: 'File holding the OAuth client secret (instead of NEXUSCORE_CLIENT_SECRET)' })
      .option('api-key-file', { type: 'string', describe: 'File holding a workspace API key (instead of NEXUSCORE_API_KEY)' })
      .option('brand-map', { type: 'string', describe: 'JSON file mapping source brand ids to NexusCore brand ids or subdomains' })
      .option('progress', { type: 'boolean', default: true, describe: 'Live progress on stderr (--no-progress to silence it)' })
      .example('$0 run', 'Migrate everything staged, organizations first')
      .example('$0 run zendesk-tickets --limit 300/60s --limit 75/10s', 'Tickets (and pending parents), at half the default quota')
      .example('$0 run --dry-run --json', 'What would be sent and what would fail, as JSON'),
  handler: async (args: RunArgs) => {
    const jobs = args.job ?? [];
    // Every option is checked, --dry-run included: a dry run with options the real run refuses proves nothing.
    const problems: string[] = [];
    const check = (ok: boolean, message: string) => ok || problems.push(message);
    // yargs turns a number option's non-number into NaN: say what was wrong, not `NaN`.
    const shown = (v: unknown) => (typeof v === 'number' && Number.isNaN(v) ? 'something that is not a number' : `\`${v}\``);
    check(Number.isInteger(args.concurrency) && args.concurrency >= 1, `Expected --concurrency to be a whole number >= 1, got ${shown(args.concurrency)}.`);
    check(Number.isInteger(args['max-attempts']) && args['max-attempts'] >= 1, `Expected --max-attempts to be a whole number >= 1, got ${shown(args['max-attempts'])}.`);
    const settle = <T>(f: () => T): T | undefined => {
      try {
        return f();
      } catch (err) {
        problems.push((err as Error).message);
        return undefined;
      }
    };
    const windows = settle(() => (args.limit?.length ? args.limit.map((l) => parseWindow(l)) : [...DEFAULT_WINDOWS]));
    const timeoutMs = settle(() => parseDuration(args.timeout, '--timeout'));
    if (args['dry-run']) {
      if (problems.length) throw new UsageError(problems.join('\n'));
      const report = await dryRun({ db: args.db, ...(args['jobs-dir'] ? { jobsDir: args['jobs-dir'] } : {}), ...(args['brand-map'] ? { brandMap: args['brand-map'] } : {}), jobs });
      if (args.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else process.stdout.write(formatDryRun(report));
      return report.failures.length > 0 || Object.values(report.jobs).some((j) => j.would_fail > 0) ? 2 : 0;
    }
    const credentials = settle(() =>
      resolveCredentials({
        env: process.env,
        ...(args['client-secret-file'] ? { clientSecretFile: args['client-secret-file'] } : {}),
        ...(args['api-key-file'] ? { apiKeyFile: args['api-key-file'] } : {}),
      }),
    );
    if (problems.length) throw new UsageError(problems.join('\n'));

    const stop = new AbortController();
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        process.stderr.write(`\n${sig}: finishing the requests on the wire, then checkpointing (again to quit at once; resuming stays safe)\n`);
        stop.abort(new Error(`stopped by ${sig}`));
      } else {
        process.stderr.write(`${sig} again: quitting now. Run the same command to resume.\n`);
        process.exit(130);
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const progress = args.progress ? createProgressReporter() : undefined;
    try {
      const { summary, exitCode } = await migrate({
        db: args.db,
        baseUrl: args['base-url'],
        ...(args['ca-file'] ? { caFile: args['ca-file'] } : {}),
        ...(args['jobs-dir'] ? { jobsDir: args['jobs-dir'] } : {}),
        jobs,
        credentials: credentials!,
        windows: windows!,
        concurrency: args.concurrency,
        maxAttempts: args['max-attempts'],
        timeoutMs: timeoutMs!,
        ...(args['brand-map'] ? { brandMap: args['brand-map'] } : {}),
        clock: systemClock,
        signal: stop.signal,
        // Notices (brands unmapped, a retried read) are not progress: they reach stderr with --no-progress too.
        onEvent: progress ? progress.onEvent : (e) => (e.type === 'notice' ? process.stderr.write(`note: ${e.message}\n`) : undefined),
      });
      progress?.stop();
      if (args.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else process.stdout.write(`${formatRunSummary(summary)}\n`);
      return exitCode;
    } finally {
      progress?.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

function formatDryRun(r: Awaited<ReturnType<typeof dryRun>>): string {
  const lines = ['Dry run: nothing was sent, nothing changed.', ''];
  for (const [name, j] of Object.entries(r.jobs)) {
    lines.push(`  ${name.padEnd(24)} would create ${j.would_create}, update ${j.would_update}, fail ${j.would_fail}`);
  }
  if (r.failures.length) {
    lines.push('', 'Would fail:');
    for (const f of r.failures) lines.push(`  ${f.key}${f.file ? ` (${f.file}:${f.line})` : ''}: ${f.reason}`);
  }
  lines.push('', `${r.requests} requests would be sent.`);
  return `${lines.join('\n')}\n`;
}
