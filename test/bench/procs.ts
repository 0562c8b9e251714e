/**
 * Child-process helpers of the runner benchmarks (overhead, e2e): the real
 * simulator (`nexus-backfill sim`) and the real CLI, each in its own process
 * so neither shares an event loop with the other or with the harness.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Agent, request } from 'undici';
import { packageRoot } from '../../src/paths.js';

export interface SimInfo {
  url: string;
  ca_file: string;
  client_id: string;
  client_secret: string;
  api_key: string;
}

export interface SimProcess {
  info: SimInfo;
  pid: number;
  /** GET /__sim/stats (no auth). */
  stats(): Promise<SimStats>;
  stop(): Promise<void>;
}

/** The parts of the simulator's stats the benchmarks read. */
export interface SimStats {
  requests: number;
  apiRequests: number;
  tokenRequests: number;
  rateLimited: number;
  tokensIssued: number;
  responses: Record<string, number>;
  records: Record<string, number>;
  externalIds: Record<string, number>;
  duplicateExternalIds: Record<string, number>;
  maxInWindow: unknown;
  limits: unknown;
}

/** The project root: the bench runs from dist/test/bench, the paths helper knows where the package is. */
export const projectRoot = packageRoot;

export function cliPath(): string {
  const cli = path.join(projectRoot(), 'dist/src/cli/main.js');
  if (!existsSync(cli)) throw new Error(`The built CLI ${cli} is missing; run \`npm run build\` first.`);
  return cli;
}

/** The environment without the developer's NexusCore / nexus-backfill settings. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('NEXUSCORE_') && !k.startsWith('NEXUS_BACKFILL_')) env[k] = v;
  }
  return { ...env, ...extra };
}

/** Starts `nexus-backfill sim <args>` and reads its JSON line. */
export async function startSim(args: string[]): Promise<SimProcess> {
  const child = spawn(process.execPath, [cliPath(), 'sim', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const info = await new Promise<SimInfo>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as SimInfo);
    });
    child.once('close', (code) => reject(new Error(`nexus-backfill sim ${args.join(' ')} exited (${code}) before listening: ${stderr}`)));
  });
  // The control endpoints need no auth; the process's own CA file is trusted for them.
  const agent = new Agent({ connect: { ca: readFileSync(info.ca_file) } });
  return {
    info,
    pid: child.pid!,
    stats: async () => {
      const res = await request(`${info.url}/__sim/stats`, { dispatcher: agent });
      if (res.statusCode !== 200) throw new Error(`GET /__sim/stats answered ${res.statusCode}`);
      return (await res.body.json()) as SimStats;
    },
    stop: async () => {
      await agent.close();
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Environment for the CLI to reach a simulator with OAuth client credentials. */
export function simEnv(info: SimInfo): NodeJS.ProcessEnv {
  return cleanEnv({
    NEXUSCORE_BASE_URL: info.url,
    NEXUSCORE_CA_FILE: info.ca_file,
    NEXUSCORE_CLIENT_ID: info.client_id,
    NEXUSCORE_CLIENT_SECRET: info.client_secret,
  });
}

export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit, process start-up included. */
  wallMs: number;
}

/** Runs `node <script> <args>` to completion (killed after `timeoutMs`). */
export function runNode(script: string, args: string[], opts: { env?: NodeJS.ProcessEnv; execArgv?: string[]; timeoutMs?: number; cwd?: string } = {}): Promise<ChildResult> {
  const started = performance.now();
  const child = spawn(process.execPath, [...(opts.execArgv ?? []), script, ...args], {
    cwd: opts.cwd ?? projectRoot(),
    env: opts.env ?? cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, wallMs: performance.now() - started });
    });
  });
}

/** Runs the built CLI. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; execArgv?: string[]; timeoutMs?: number; cwd?: string } = {}): Promise<ChildResult> {
  return runNode(cliPath(), args, opts);
}

/** The last non-empty stdout line as JSON (the `--json` document). */
export function lastJson<T>(r: ChildResult, what: string): T {
  const line = r.stdout.trim().split('\n').filter(Boolean).pop();
  if (!line) throw new Error(`${what}: no JSON on stdout (exit ${r.code}); stderr:\n${r.stderr.slice(-2000)}`);
  try {
    return JSON.parse(line) as T;
  } catch (err) {
    throw new Error(`${what}: stdout's last line is not JSON (exit ${r.code}): ${line.slice(0, 300)}`, { cause: err });
  }
}

export interface Rusage {
  cpuS: number;
  userS: number;
  systemS: number;
  maxRssMb: number;
  /** CPU seconds of the main (JavaScript) thread, and that over the process's wall time (Linux only). */
  mainThreadS?: number;
  mainThreadBusy?: number;
}

/**
 * Runs `node <script> <args>` with rusage-preload.js, and returns the child's
 * own CPU time and peak RSS with its result.
 */
export async function runNodeMeasured(
  script: string,
  args: string[],
  rusageFile: string,
  opts: { env?: NodeJS.ProcessEnv; execArgv?: string[]; timeoutMs?: number } = {},
): Promise<ChildResult & { rusage?: Rusage }> {
  const preload = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'rusage-preload.js')).href;
  const r = await runNode(script, args, { ...opts, env: { ...(opts.env ?? cleanEnv()), BENCH_RUSAGE_FILE: rusageFile }, execArgv: ['--import', preload, ...(opts.execArgv ?? [])] });
  return existsSync(rusageFile) ? { ...r, rusage: JSON.parse(readFileSync(rusageFile, 'utf8')) as Rusage } : r;
}

/** User + system CPU seconds of a live process, from /proc (Linux); undefined elsewhere. */
export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function spread(xs: readonly number[]): { min: number; median: number; max: number } {
  return { min: Math.min(...xs), median: median(xs), max: Math.max(...xs) };
}
