/**
 * Workspace API key: sent as a bearer, never refreshed. A 401 means the key
 * was revoked or rotated, which only a person can fix (exit 3).
 *
 * The server does not report a key's scopes, so `checkScopes` cannot verify
 * them before the first send; a 403 insufficient_scope stops the run then
 * (the outcome table's `stop_scope`).
 */
import { AuthError } from '../errors.js';
import type { TokenProvider } from './provider.js';
import { registerSecret } from './redact.js';

export function apiKeyRejectedError(detail?: string): AuthError {
  return new AuthError(
    `NexusCore rejected the API key${detail ? ` (${detail})` : ''}: the key was revoked or rotated; create a new one under Settings → API keys and set NEXUSCORE_API_KEY (or --api-key-file), then run again.`,
    'api_key_rejected',
  );
}

export function createApiKeyProvider(opts: { apiKey: string }): TokenProvider {
  const key = opts.apiKey;
  registerSecret(key);
  return {
    mode: 'api_key',
    token: async (signal) => {
      signal?.throwIfAborted();
      return key;
    },
    peek: () => key,
    invalidate: () => false,
    renew: async (_t, _signal, detail) => {
      throw apiKeyRejectedError(detail);
    },
    grantedScopes: () => undefined,
    checkScopes: async () => ({ verified: false }),
    stats: () => ({ tokenRequests: 0, tokensIssued: 0, refreshes: 0 }),
    close: () => {},
  };
}
