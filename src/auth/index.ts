export { createClientCredentialsProvider, refreshAheadMs } from './client-credentials.js';
export type { ClientCredentialsOptions } from './client-credentials.js';
export { createApiKeyProvider, apiKeyRejectedError } from './api-key.js';
export { resolveCredentials } from './credentials.js';
export type { Credentials, CredentialSources } from './credentials.js';
export { insufficientScopeError, missingScopes } from './provider.js';
export type { AuthEvent, TokenProvider } from './provider.js';
export { redact, redactedJson, registerSecret, forgetSecret, REDACTED } from './redact.js';

import type { Clock } from '../clock.js';
import type { HttpClient } from '../http/client.js';
import { createApiKeyProvider } from './api-key.js';
import { createClientCredentialsProvider } from './client-credentials.js';
import type { Credentials } from './credentials.js';
import type { AuthEvent, TokenProvider } from './provider.js';

/** The provider for resolved credentials. */
export function createTokenProvider(
  creds: Credentials,
  deps: { http: Pick<HttpClient, 'request'>; clock: Clock; random?: () => number; onEvent?: (e: AuthEvent) => void },
): TokenProvider {
  if (creds.mode === 'api_key') return createApiKeyProvider({ apiKey: creds.apiKey });
  return createClientCredentialsProvider({
    http: deps.http,
    clock: deps.clock,
    clientId: creds.clientId,
    clientSecret: creds.clientSecret,
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.onEvent ? { onEvent: deps.onEvent } : {}),
  });
}
