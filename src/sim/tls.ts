/**
 * The committed test TLS material (data/tls: a test CA and a leaf for
 * localhost, 127.0.0.1 and ::1). Found by walking up from this module, so it
 * works from src/ (tsx, vitest) and from dist/ alike.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TlsMaterial {
  caFile: string;
  cert: Buffer;
  key: Buffer;
}

export function loadTlsMaterial(): TlsMaterial {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const tls = path.join(dir, 'data', 'tls');
    if (existsSync(path.join(tls, 'ca.pem'))) {
      return {
        caFile: path.join(tls, 'ca.pem'),
        cert: readFileSync(path.join(tls, 'server-cert.pem')),
        key: readFileSync(path.join(tls, 'server-key.pem')),
      };
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`The simulator's TLS material (data/tls/ca.pem, server-cert.pem, server-key.pem) was not found above ${fileURLToPath(import.meta.url)}; restore data/tls from git.`);
    }
    dir = parent;
  }
}
