/**
 * What the sender needs from a credential, whichever kind it is, and the
 * scope check both kinds share.
 */
import { AuthError } from '../errors.js';
import type { Scope } from '../types.js';

export type AuthEvent =
  | { type: 'token_refreshed'; reason: 'initial' | 'expiring' | 'expired' | 'rejected'; expiresInMs: number; scopes: string[] }
  | { type: 'token_retry'; attempt: number; delayMs: number; reason: string };

export interface TokenProvider {
  readonly mode: 'client_credentials' | 'api_key';
  /** A credential to send now; obtains or refreshes (single-flight) when needed. */
  token(signal?: AbortSignal): Promise<string>;
  /**
   * token() when it would not wait: the credential to send now (starting a
   * background refresh when one is due), or undefined when only token() can
   * get one. Lets every send that needs no refresh skip an await.
   */
  peek(): string | undefined;
  /** Forgets `token` if it is still the current one; true when it was. */
  invalidate(token: string): boolean;
  /**
   * A request sent with `token` got a 401: resolves with the token to replay
   * it with (one refresh however many requests ask at once), or throws
   * AuthError when no renewal is possible (an API key).
   */
  renew(token: string, signal?: AbortSignal, detail?: string): Promise<string>;
  /** Scopes the credential was granted; undefined when the server does not say (API keys). */
  grantedScopes(): ReadonlySet<string> | undefined;
  /**
   * Stops the run (AuthError `insufficient_scope`, exit 3) when a required
   * scope is not granted. `verified: false` when the grant cannot be known
   * before sending (an API key): a 403 insufficient_scope then stops the run.
   */
  checkScopes(required: readonly Scope[], signal?: AbortSignal, context?: string): Promise<{ verified: boolean }>;
  stats(): { tokenRequests: number; tokensIssued: number; refreshes: number };
  close(): void;
}

export function missingScopes(required: readonly string[], granted: ReadonlySet<string>): string[] {
  return [...new Set(required)].filter((s) => !granted.has(s));
}

export function insufficientScopeError(missing: readonly string[], granted: Iterable<string> | undefined, context?: string): AuthError {
  const have = granted ? [...granted] : undefined;
  return new AuthError(
    `The credential lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}${context ? ` needed by ${context}` : ''}` +
      `${have ? ` (granted: ${have.length ? have.join(' ') : 'none'})` : ''}. ` +
      `Ask a workspace admin to grant ${missing.join(' ')} to this credential under Settings → API keys, then run again.`,
    'insufficient_scope',
  );
}
