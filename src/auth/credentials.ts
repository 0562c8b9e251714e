/**
 * Where credentials come from: the environment or a file, never a flag's
 * value (docs/cli.md). Exactly one mode must be configured.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { registerSecret } from './redact.js';

export type Credentials =
  | { mode: 'client_credentials'; clientId: string; clientSecret: string }
  | { mode: 'api_key'; apiKey: string };

export interface CredentialSources {
  env: Readonly<Record<string, string | undefined>>;
  /** --client-secret-file */
  clientSecretFile?: string;
  /** --api-key-file */
  apiKeyFile?: string;
  /** Reads a file (injected for tests); default fs.readFileSync. */
  readFile?: (path: string) => string;
}

function readSecretFile(path: string, flag: string, read: (p: string) => string): string {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    throw new UsageError(`Cannot read ${flag} \`${path}\`: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}. Check the path and its permissions.`, { cause: err });
  }
  const value = text.trim();
  if (!value) throw new UsageError(`${flag} \`${path}\` is empty. Put the secret alone on its first line.`);
  return value;
}

/**
 * Resolves the credentials, registering each secret for redaction.
 * Throws UsageError (exit 1) when none, both, or half of a pair is configured.
 */
export function resolveCredentials(src: CredentialSources): Credentials {
  const read = src.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const env = src.env;
  const clientId = env.NEXUSCORE_CLIENT_ID?.trim() || undefined;
  const envSecret = env.NEXUSCORE_CLIENT_SECRET?.trim() || undefined;
  const envKey = env.NEXUSCORE_API_KEY?.trim() || undefined;
  registerSecret(envSecret);
  registerSecret(envKey);

  if (envSecret && src.clientSecretFile) {
    throw new UsageError('Both NEXUSCORE_CLIENT_SECRET and --client-secret-file are set. Keep one, so it is clear which secret is used.');
  }
  if (envKey && src.apiKeyFile) {
    throw new UsageError('Both NEXUSCORE_API_KEY and --api-key-file are set. Keep one, so it is clear which key is used.');
  }
  const wantsClient = Boolean(clientId || envSecret || src.clientSecretFile);
  const wantsKey = Boolean(envKey || src.apiKeyFile);
  if (wantsClient && wantsKey) {
    throw new UsageError(
      'Both OAuth client credentials (NEXUSCORE_CLIENT_ID / NEXUSCORE_CLIENT_SECRET / --client-secret-file) and an API key (NEXUSCORE_API_KEY / --api-key-file) are configured. Unset one of them.',
    );
  }
  if (!wantsClient && !wantsKey) {
    throw new UsageError(
      'No NexusCore credentials: set NEXUSCORE_CLIENT_ID with NEXUSCORE_CLIENT_SECRET (or --client-secret-file), or NEXUSCORE_API_KEY (or --api-key-file). Create them under Settings → API keys.',
    );
  }
  if (wantsKey) {
    const apiKey = envKey ?? readSecretFile(src.apiKeyFile!, '--api-key-file', read);
    registerSecret(apiKey);
    return { mode: 'api_key', apiKey };
  }
  if (!clientId) {
    throw new UsageError('A client secret is configured but NEXUSCORE_CLIENT_ID is not. Set NEXUSCORE_CLIENT_ID to the client_id shown with the secret.');
  }
  const clientSecret = envSecret ?? (src.clientSecretFile ? readSecretFile(src.clientSecretFile, '--client-secret-file', read) : undefined);
  if (!clientSecret) {
    throw new UsageError('NEXUSCORE_CLIENT_ID is set but no secret: set NEXUSCORE_CLIENT_SECRET or pass --client-secret-file.');
  }
  registerSecret(clientSecret);
  return { mode: 'client_credentials', clientId, clientSecret };
}
