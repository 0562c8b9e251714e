/**
 * Finds and checks job definitions: the bundled `jobs/` next to this package
 * (jobs/*.ts from the sources, dist/jobs/*.js once built) and a user's
 * `--jobs-dir` (.ts loaded through tsx, .js/.mjs/.cjs imported). Every problem is
 * reported at once, each naming the file and what is wrong.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';
import type { JobDefinition, Scope } from '../types.js';
import { importJobModule, jobLikeExports } from './job-module.js';

export interface LoadedJob {
  job: JobDefinition;
  /** The module file that defines it (workers import it again). */
  file: string;
  bundled: boolean;
}

const SCOPES: readonly Scope[] = ['tickets:read', 'tickets:write', 'brands:read', 'users:read', 'users:write'];
const NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** The bundled jobs directory, resolved from this module: works from src/ (tsx, vitest) and from dist/. */
export function bundledJobsDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../jobs');
}

function jobFiles(dir: string): string[] {
  const running = import.meta.url.endsWith('.ts') ? /\.ts$/ : /\.js$/;
  return readdirSync(dir)
    .filter((f) => !f.endsWith('.d.ts') && !f.includes('.test.'))
    .filter((f) => (dir === bundledJobsDir() ? running.test(f) : /\.([cm]?js|[cm]?ts)$/.test(f)))
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile())
    .sort();
}

/** What is wrong with an exported object as a job, or an empty list. */
export function checkJobShape(v: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (typeof v.name !== 'string' || !NAME.test(v.name)) problems.push(`name must be a kebab-case string like "zendesk-tickets", got ${JSON.stringify(v.name)}`);
  if (!Array.isArray(v.scopes) || v.scopes.some((s) => !SCOPES.includes(s as Scope))) {
    problems.push(`scopes must be an array of ${SCOPES.join(', ')}; got ${JSON.stringify(v.scopes)}`);
  }
  if (v.dependsOn !== undefined && (!Array.isArray(v.dependsOn) || v.dependsOn.some((d) => typeof d !== 'string'))) {
    problems.push(`dependsOn must be an array of job names, got ${JSON.stringify(v.dependsOn)}`);
  }
  if (typeof v.resource !== 'string' || v.resource === '') problems.push(`resource must name the NexusCore collection ("tickets", "users", ...), got ${JSON.stringify(v.resource)}`);
  for (const fn of ['parse', 'key', 'map'] as const) {
    if (typeof v[fn] !== 'function') problems.push(`${fn} must be a function, got ${v[fn] === undefined ? 'nothing' : typeof v[fn]}`);
  }
  if (v.validate !== undefined && typeof v.validate !== 'function') problems.push(`validate, when given, must be a function, got ${typeof v.validate}`);
  return problems;
}

/**
 * Loads the bundled jobs and those of `jobsDir`. Throws one UsageError listing
 * every problem: a file that cannot be imported, exports no job or an
 * ill-formed one, two jobs of one name, a dependency on an unknown job.
 */
export async function loadJobs(opts: { jobsDir?: string | undefined } = {}): Promise<LoadedJob[]> {
  const problems: string[] = [];
  const found: LoadedJob[] = [];
  const dirs: [string, boolean][] = [[bundledJobsDir(), true]];
  if (opts.jobsDir) {
    const dir = path.resolve(opts.jobsDir);
    let ok = false;
    try {
      ok = statSync(dir).isDirectory();
    } catch {
      ok = false;
    }
    if (!ok) throw new UsageError(`--jobs-dir ${opts.jobsDir} is not a directory. Point it at the directory holding your job files (.ts or .js).`);
    if (dir !== bundledJobsDir()) dirs.push([dir, false]);
  }
  for (const [dir, bundled] of dirs) {
    for (const file of jobFiles(dir)) {
      const rel = path.relative(process.cwd(), file) || file;
      let mod: Record<string, unknown>;
      try {
        mod = await importJobModule(file);
      } catch (err) {
        problems.push(`${rel}: cannot be loaded: ${loadProblem(err)}`);
        continue;
      }
      const exports = jobLikeExports(mod);
      if (exports.length === 0) {
        problems.push(`${rel}: exports no job. Write \`export default defineJob({ name, scopes, resource, parse, key, map })\` (defineJob comes from nexus-backfill).`);
        continue;
      }
      for (const [exportName, v] of exports) {
        const shape = checkJobShape(v);
        if (shape.length) {
          problems.push(`${rel}: the ${exportName === 'default' ? 'default export' : `export ${exportName}`} is not a valid job: ${shape.join('; ')}.`);
          continue;
        }
        const job = v as unknown as JobDefinition;
        const twin = found.find((f) => f.job.name === job.name);
        if (twin) {
          if (!bundled && twin.bundled) {
            // A user's job of a bundled name replaces the bundled one.
            found.splice(found.indexOf(twin), 1);
          } else {
            problems.push(`${rel}: defines the job ${job.name}, already defined in ${path.relative(process.cwd(), twin.file)}. Rename one of them.`);
            continue;
          }
        }
        found.push({ job, file, bundled });
      }
    }
  }
  const names = new Set(found.map((f) => f.job.name));
  for (const f of found) {
    for (const dep of f.job.dependsOn ?? []) {
      if (!names.has(dep)) problems.push(`${path.relative(process.cwd(), f.file)}: ${f.job.name} depends on ${dep}, which no job file defines. Add it or fix dependsOn.`);
    }
  }
  if (problems.length) {
    throw new UsageError(`Some job definitions cannot be used:\n  - ${problems.join('\n  - ')}`);
  }
  return found;
}

/** The job named `name`, or a UsageError listing the jobs there are. */
/** Names of the jobs staged for lookup only and never sent (the Zendesk brands export). */
export function stageOnlyNames(jobs: readonly LoadedJob[]): Set<string> {
  return new Set(jobs.filter((j) => j.job.stageOnly).map((j) => j.job.name));
}

export function findJob(jobs: readonly LoadedJob[], name: string): LoadedJob {
  const hit = jobs.find((j) => j.job.name === name);
  if (!hit) {
    throw new UsageError(`There is no job named ${name}. Known jobs: ${jobs.map((j) => j.job.name).join(', ') || 'none'} (run nexus-backfill jobs; add your own with --jobs-dir).`);
  }
  return hit;
}

/** Why a job file could not be imported, in a few lines: a syntax error's location and text, or what to do. */
function loadProblem(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/Cannot find (module|package) '?nexus-backfill'?/.test(message)) {
    return (
      "it imports 'nexus-backfill', which Node resolves from the job file's own directory. Keep the jobs directory inside " +
      'a project where nexus-backfill is installed (npm install <path or package>), or inside the nexus-backfill checkout.'
    );
  }
  // esbuild's "Transform failed with 1 error:" comes first; the location and the error follow on the next lines.
  return message
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 3)
    .join(' ');
}
