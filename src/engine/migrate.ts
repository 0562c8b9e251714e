/**
 * `run` as a plain async function: open the store, pick and order the jobs,
 * set up credentials, HTTP, the workspace gate and the sender, check scopes,
 * run the engine, and return the summary of docs/cli.md. The CLI wrapper
 * handles signals and printing; tests call this directly.
 */
import type { Clock } from '../clock.js';
import { AuthError, UsageError, type ExitCode } from '../errors.js';
import { createTokenProvider } from '../auth/index.js';
import type { Credentials } from '../auth/credentials.js';
import { createHttpClient, parseBaseUrl } from '../http/client.js';
import { createGate, type GateState } from '../limits/gate.js';
import { openStore, type StateCounts, type Store } from '../store/index.js';
import { loadJobs, stageOnlyNames, type LoadedJob } from '../sources/job-loader.js';
import type { BrandResolver, RateWindow, Scope } from '../types.js';
import { brandMapBySubdomain, brandMapFromFile, createBrandResolver, type NexusBrand } from './brands.js';
import { runEngine, type EngineEvent } from './run.js';
import { createSender, type Sender } from './sender.js';
import { emptyResponses } from './metrics.js';
import { classify, classifyResponse } from './outcome.js';
import { redact } from '../auth/redact.js';
import { finishLoadCommand } from '../command-lines.js';
import type { ResponseCounts } from '../store/index.js';

export const BRANDS_JOB = 'zendesk-brands';
/** How much later than its logged start a send of an earlier run may have been counted by the server. */
const RESTORE_MARGIN_MS = 1_000;

export interface MigrateOptions {
  db: string;
  baseUrl: string;
  caFile?: string;
  jobsDir?: string;
  /** Jobs named on the command line; empty: every job with work. */
  jobs: readonly string[];
  credentials: Credentials;
  windows: readonly RateWindow[];
  concurrency: number;
  maxAttempts: number;
  timeoutMs: number;
  brandMap?: string;
  clock: Clock;
  /** Soft stop (first SIGINT/SIGTERM). */
  signal: AbortSignal;
  onEvent?: (e: EngineEvent) => void;
}

export interface RunSummary {
  run_id: string;
  outcome: 'completed' | 'partial' | 'interrupted' | 'auth_failed';
  jobs: Record<string, { pending: number; done: number; failed: number; dead: number; invalid: number }>;
  requests: number;
  responses: ResponseCounts;
  retries: number;
  token_refreshes: number;
  elapsed_s: number;
  items_per_s: number;
  latency_ms: { p50: number; p95: number; p99: number };
  /** Items done in this run. */
  items_done: number;
  /** Requests per second over the run, and as a share of what the configured windows allow in that time. */
  requests_per_s: number;
  quota_share: number;
  /** Set when the run stopped for authentication or authorization. */
  error?: string;
  db: string;
}

export interface MigrateResult {
  summary: RunSummary;
  exitCode: ExitCode;
}

/**
 * Selected jobs plus the dependencies that still have work, in dependency
 * order. Naming `zendesk-tickets` alone also sends pending users first:
 * a ticket cannot be created before its requester.
 */
export function selectJobs(all: readonly LoadedJob[], named: readonly string[], counts: Record<string, StateCounts>): LoadedJob[] {
  const byName = new Map(all.map((j) => [j.job.name, j]));
  const hasWork = (name: string) => {
    const c = counts[name];
    return !!c && c.pending + c.inflight > 0;
  };
  for (const n of named) {
    if (!byName.has(n)) throw new UsageError(`There is no job named ${n}. Known jobs: ${[...byName.keys()].join(', ')} (nexus-backfill jobs lists them; add your own with --jobs-dir).`);
  }
  const stageOnly = stageOnlyNames(all);
  const namedStageOnly = named.filter((n) => stageOnly.has(n));
  if (namedStageOnly.length) {
    throw new UsageError(
      `${namedStageOnly.join(', ')} ${namedStageOnly.length === 1 ? 'is' : 'are'} staged for lookup by other jobs and never sent. Run the jobs that read ${namedStageOnly.length === 1 ? 'it' : 'them'} (nexus-backfill run with no job name sends every job with work).`,
    );
  }
  const staged = Object.keys(counts).filter((n) => !stageOnly.has(n));
  const unknown = staged.filter((n) => !byName.has(n) && hasWork(n));
  if (named.length === 0 && unknown.length) {
    throw new UsageError(`The store holds items for ${unknown.join(', ')} but no job definition of that name is loaded. Pass the directory of your job files with --jobs-dir.`);
  }
  const roots = named.length ? [...named] : staged.filter((n) => byName.has(n) && hasWork(n));
  const ordered: LoadedJob[] = [];
  const seen = new Set<string>();
  const visit = (name: string, path: string[]) => {
    if (path.includes(name)) throw new UsageError(`Jobs depend on each other in a circle: ${[...path, name].join(' -> ')}. Fix dependsOn.`);
    if (seen.has(name)) return;
    const j = byName.get(name);
    if (!j) return;
    for (const dep of j.job.dependsOn ?? []) if (hasWork(dep)) visit(dep, [...path, name]);
    seen.add(name);
    ordered.push(j);
  };
  for (const r of roots) visit(r, []);
  // Stage-only jobs (the Zendesk brands export) are read by the run, never sent.
  return ordered.filter((j) => !j.job.stageOnly);
}

/** What the windows allow from rest in `ms`: the physical limit a run is judged against. */
export function physicalLimit(windows: readonly RateWindow[], ms: number): number {
  if (windows.length === 0) return Infinity;
  return Math.min(...windows.map((w) => w.count * Math.ceil(ms / w.windowMs)));
}

export async function migrate(opts: MigrateOptions): Promise<MigrateResult> {
  parseBaseUrl(opts.baseUrl);
  const allJobs = await loadJobs({ jobsDir: opts.jobsDir });
  const store = openStore(opts.db, { mode: 'writer', command: 'run', mustExist: true });
  const http = createHttpClient({ baseUrl: opts.baseUrl, ...(opts.caFile ? { caFile: opts.caFile } : {}), concurrency: opts.concurrency, timeoutMs: opts.timeoutMs });
  const emit = opts.onEvent ?? (() => {});
  let sender: Sender | undefined;
  try {
    const before = store.counts();
    const selected = selectJobs(allJobs, opts.jobs, before);
    const names = selected.map((j) => j.job.name);
    // The summary (and the exit code) covers the named jobs, or every staged job when none is named, work left or not.
    const stageOnly = stageOnlyNames(allJobs);
    const reported = [...new Set([...names, ...(opts.jobs.length ? opts.jobs : Object.keys(before).filter((n) => !stageOnly.has(n)))])];
    refuseUnfinishedLoads(store, opts.db, names, stageOnly);
    let tokenRefreshes = 0;
    const auth = createTokenProvider(opts.credentials, {
      http,
      clock: opts.clock,
      onEvent: (e) => {
        // The first token of a run is obtained, not refreshed.
        if (e.type === 'token_refreshed' && e.reason !== 'initial') {
          tokenRefreshes++;
          emit({ type: 'token', reason: e.reason });
        }
      },
    });
    const restore = restoredGate(store, opts.windows, opts.clock.now());
    const gate = createGate({ windows: opts.windows, concurrency: opts.concurrency, clock: opts.clock, ...(restore ? { restore } : {}) });
    sender = createSender({ http, auth, gate, clock: opts.clock });
    const started = opts.clock.now();
    const runId = store.startRun(names, { jobs: names, windows: opts.windows, concurrency: opts.concurrency, maxAttempts: opts.maxAttempts, timeoutMs: opts.timeoutMs, baseUrl: opts.baseUrl });

    let engine: Awaited<ReturnType<typeof runEngine>> | undefined;
    let authError: AuthError | undefined;
    try {
      if (names.length > 0) {
        const scopes = new Set<Scope>(selected.flatMap((j) => j.job.scopes));
        // A staged Zendesk brands export (stage-only items, never sent) means: map brands by subdomain.
        const stagedBrands = before[BRANDS_JOB];
        const brandsNeeded = !opts.brandMap && !!stagedBrands && stagedBrands.pending + stagedBrands.done > 0;
        if (brandsNeeded || opts.brandMap) scopes.add('brands:read');
        await auth.checkScopes([...scopes], opts.signal, `the jobs ${names.join(', ')}`);
        const brands = await brandResolver(store, sender, opts, brandsNeeded, (message) => emit({ type: 'notice', message }));
        engine = await runEngine({
          store,
          jobs: selected,
          sender,
          gate,
          auth,
          clock: opts.clock,
          brands,
          runId,
          windows: opts.windows,
          maxAttempts: opts.maxAttempts,
          // Enough claimed ahead that the queue never runs dry between claims, still a small multiple. The
          // engine claims in pages of half of it, and a claim's cost is mostly per statement: at 4x (pages of
          // 2x the concurrency) claiming took ~25% more CPU per item than at 8x. Alone, a claim keeps getting
          // cheaper per item up to pages of 256 (~14 us an item in pages of 64, ~8.6 in pages of 256), but a
          // whole run at c=16 with 512 outstanding used no less CPU per item (6 interleaved pairs).
          maxOutstanding: opts.concurrency * 8,
          stopSignal: opts.signal,
          onEvent: emit,
        });
        authError = engine.authError;
      }
    } catch (err) {
      if (err instanceof AuthError) authError = err;
      else if (!(opts.signal.aborted && isAbort(err))) {
        // The run row says how it ended, so status does not list it as one that was killed.
        try {
          store.finishRun(runId, 'error', { error: redact(err instanceof Error ? err.message : String(err)) });
        } catch {
          // The store itself may be what failed (full, read-only): the error below says so.
        }
        throw err;
      }
    } finally {
      store.saveLimiterState(JSON.stringify({ adaptive: gate.snapshot().adaptive }));
      gate.close();
      auth.close();
    }

    const elapsedMs = Math.max(1, opts.clock.now() - started);
    const counts = store.counts(reported);
    const jobs: RunSummary['jobs'] = {};
    for (const n of reported) {
      const c = counts[n]!;
      // An item still `inflight` here was cut off by a hard stop: it is resumed as pending.
      jobs[n] = { pending: c.pending + c.inflight, done: c.done, failed: c.failed, dead: c.dead, invalid: c.invalid };
    }
    const left = Object.values(jobs).some((c) => c.pending + c.failed + c.dead + c.invalid > 0);
    // NexusCore unreachable or failing is no credential problem: the items wait, the run ends partial.
    const unavailable = authError?.code === 'token_unavailable';
    const outcome: RunSummary['outcome'] = authError && !unavailable ? 'auth_failed' : opts.signal.aborted ? 'interrupted' : left ? 'partial' : 'completed';
    const m = engine?.metrics ?? { requests: 0, responses: emptyResponses(), itemsDone: 0, latency: { p50: 0, p95: 0, p99: 0 } };
    const limit = physicalLimit(opts.windows, elapsedMs);
    const summary: RunSummary = {
      run_id: runId,
      outcome,
      jobs,
      requests: m.requests,
      responses: m.responses,
      retries: engine?.retries ?? 0,
      token_refreshes: tokenRefreshes,
      elapsed_s: round(elapsedMs / 1000, 3),
      items_per_s: round(m.itemsDone / (elapsedMs / 1000), 2),
      latency_ms: m.latency,
      items_done: m.itemsDone,
      requests_per_s: round(m.requests / (elapsedMs / 1000), 2),
      quota_share: Number.isFinite(limit) ? round(m.requests / limit, 4) : 0,
      ...(authError ? { error: authError.message } : {}),
      db: opts.db,
    };
    store.finishRun(runId, outcome, summary);
    // Nothing sent because NexusCore could not be reached: a configuration question (--base-url, network), exit 1.
    const exitCode: ExitCode = outcome === 'completed' ? 0 : outcome === 'auth_failed' ? 3 : outcome === 'interrupted' ? 130 : unavailable && m.requests === 0 ? 1 : 2;
    return { summary, exitCode };
  } finally {
    await http.close();
    store.close();
  }
}

/**
 * A load that stopped partway holds a prefix of its files: a record that comes again later in them (a ticket
 * changed between two API pages) may still have its older copy staged, and sending it would put the older
 * content back in NexusCore. Nothing is sent for such a job until a load of it finishes.
 */
function refuseUnfinishedLoads(store: Store, db: string, names: readonly string[], stageOnly: ReadonlySet<string>): void {
  const unfinished = Object.entries(store.unfinishedLoads()).filter(([job]) => names.includes(job) || stageOnly.has(job));
  if (unfinished.length === 0) return;
  const lines = unfinished.map(([job, l]) => `  ${finishLoadCommand(job, l.files, db)}   (stopped, started ${new Date(l.startedAt).toISOString()})`);
  throw new UsageError(
    `The last load of ${unfinished.map(([job]) => job).join(', ')} did not finish, so the store may hold an older copy of a record that comes again later in its files. Nothing was sent. Finish it by loading the same files again (staged records add nothing), or load the files you mean to migrate:\n${lines.join('\n')}`,
  );
}

/**
 * The limiter of a resumed run starts from every send the server may still
 * count (the send log, written before each request left) and from what the
 * adaptive layer had learned (the last flushed snapshot).
 */
function restoredGate(store: Store, windows: readonly RateWindow[], now: number): GateState | undefined {
  const longest = Math.max(0, ...windows.map((w) => w.windowMs));
  // The log holds when each send started; the server counted it when it arrived, later by the
  // connection set-up and transfer. Treat each as counted up to this margin later, so the first
  // sends of the resumed run do not land in a window the server still counts.
  const margin = Math.min(RESTORE_MARGIN_MS, Math.min(...windows.map((w) => w.windowMs)) / 2);
  const sends = store.recentSends(now - longest - margin).map((t) => t + margin);
  let adaptive: GateState['adaptive'];
  try {
    adaptive = (JSON.parse(store.loadLimiterState() ?? 'null') as GateState | null)?.adaptive;
  } catch {
    adaptive = undefined;
  }
  if (sends.length === 0 && !adaptive) return undefined;
  return { sends, ...(adaptive ? { adaptive } : {}) };
}

async function brandResolver(store: Store, sender: Sender, opts: MigrateOptions, fromStaged: boolean, notice: (m: string) => void): Promise<BrandResolver> {
  if (!opts.brandMap && !fromStaged) return createBrandResolver('none', new Map(), notice);
  const list = await readBrands(sender, opts, notice);
  if (opts.brandMap) return createBrandResolver('file', brandMapFromFile(opts.brandMap, list), notice);
  return createBrandResolver('subdomain', brandMapBySubdomain(store.iterateRecords(BRANDS_JOB), list), notice);
}

/**
 * NexusCore's brands, read once per run before any item is sent. A 5xx, a 429 or a network error is
 * retried as an item's send would be (the outcome table, --max-attempts, the same backoff): one bad
 * answer must not stop a migration. A GET is safe to repeat.
 */
async function readBrands(sender: Sender, opts: MigrateOptions, notice: (m: string) => void): Promise<NexusBrand[]> {
  for (let attempt = 1; ; attempt++) {
    const res = await sender.send({ method: 'GET', path: '/v1/brands' }, opts.signal);
    const list = res.response?.status === 200 ? (res.response.body as { brands?: NexusBrand[] } | null)?.brands : undefined;
    if (Array.isArray(list)) return list;
    const answer = res.response ? `answered ${res.response.status}` : `failed (${res.error?.kind ?? 'network'})`;
    const retry = { attempt, maxAttempts: opts.maxAttempts, random: Math.random() };
    const verdict = res.response ? classifyResponse(res.response, opts.clock.now(), retry).verdict : classify({ networkError: res.error?.kind ?? 'other', ...retry });
    // A credential that may not read brands (an API key's scopes cannot be checked beforehand) is a person's to
    // fix, like any scope an item's send lacks: the run ends auth_failed (exit 3), not as if NexusCore were down.
    if (verdict.kind === 'stop_scope' || verdict.kind === 'auth') {
      throw new AuthError(
        redact(
          verdict.kind === 'stop_scope'
            ? `GET /v1/brands: ${verdict.reason}. Tickets are given their brands from NexusCore's list (a staged zendesk-brands export or --brand-map), which needs the brands:read scope: ask a workspace admin to grant it to this credential, or run without a brand mapping. Nothing was sent.`
            : `GET /v1/brands: ${verdict.reason}. NexusCore rejected the credential: check it, then run again. Nothing was sent.`,
        ),
        verdict.kind === 'stop_scope' ? 'insufficient_scope' : 'token_rejected',
      );
    }
    if (verdict.kind !== 'retry') {
      throw new UsageError(
        redact(
          `Could not read NexusCore's brands: GET /v1/brands ${answer}${attempt > 1 ? ` on attempt ${attempt} of ${opts.maxAttempts}` : ''}, so tickets cannot be given their brands. Nothing was sent. Run again later, or without a brand mapping (no --brand-map, no staged zendesk-brands export).`,
        ),
      );
    }
    notice(`GET /v1/brands ${answer}; reading the brands again in ${Math.ceil(verdict.delayMs / 1000)} s (attempt ${attempt + 1} of ${opts.maxAttempts}).`);
    await opts.clock.sleep(verdict.delayMs, opts.signal);
  }
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
