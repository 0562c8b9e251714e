/**
 * Importing a job module: `.js`/`.mjs`/`.cjs` with import(), `.ts` through tsx's
 * `tsImport` so users need no build step. When this module itself runs from
 * TypeScript (vitest, tsx), a TypeScript loader is already in place: `.ts` is
 * imported directly, so jobs share the caller's module instances.
 */
import { pathToFileURL } from 'node:url';
import type { JobDefinition } from '../types.js';

export async function importJobModule(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  if (/\.[cm]?ts$/.test(file) && !import.meta.url.endsWith('.ts')) {
    const { tsImport } = await import('tsx/esm/api');
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
  }
  return (await import(url)) as Record<string, unknown>;
}

/** Exports meant as jobs: an object default export, and named objects with a `map` or `parse`; the default first. */
export function jobLikeExports(mod: Record<string, unknown>): [string, Record<string, unknown>][] {
  // A .ts file outside an ESM package is loaded as CommonJS: its exports arrive wrapped in `default`.
  const inner = mod.default;
  if (inner && typeof inner === 'object' && (Object.hasOwn(inner, '__esModule') || Object.hasOwn(inner, 'default'))) {
    mod = { ...(inner as Record<string, unknown>), ...Object.fromEntries(Object.entries(mod).filter(([k]) => k !== 'default')) };
  }
  const out: [string, Record<string, unknown>][] = [];
  const seen = new Set<unknown>();
  for (const name of ['default', ...Object.keys(mod).filter((k) => k !== 'default')]) {
    const v = mod[name];
    if (!v || typeof v !== 'object' || Array.isArray(v) || seen.has(v)) continue;
    if (name === 'default' || Object.hasOwn(v, 'map') || Object.hasOwn(v, 'parse')) {
      seen.add(v);
      out.push([name, v as Record<string, unknown>]);
    }
  }
  return out;
}

export function jobsInModule(mod: Record<string, unknown>): JobDefinition[] {
  return jobLikeExports(mod).map(([, v]) => v as unknown as JobDefinition);
}
