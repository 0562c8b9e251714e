/** Where the package's own files are, whether running from src/ (tsx, vitest) or dist/. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The directory holding nexus-backfill's package.json. */
export function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) || path.basename(dir) === 'dist') {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('nexus-backfill cannot find its own package.json');
    dir = up;
  }
  return (root = dir);
}

/** The bundled sample Zendesk export. */
export function sampleDir(): string {
  return path.join(packageRoot(), 'data/sample');
}
