/**
 * The few error types the CLI maps to exit codes (docs/cli.md). Inner layers
 * throw these; only src/cli/main.ts turns them into a process exit.
 *
 * Messages state fact, context and next step, and never carry a secret.
 */

export type ExitCode = 0 | 1 | 2 | 3 | 130;

export abstract class NexusError extends Error {
  abstract readonly exitCode: ExitCode;
  /** A short machine code for --json output and tests. */
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad flags, bad config, bad input: nothing was sent (exit 1). */
export class UsageError extends NexusError {
  readonly exitCode = 1 as const;
  readonly code = 'usage';
}

/** The checkpoint store cannot be used as asked (locked, corrupt, newer, read-only, full): exit 1. */
export class StoreError extends NexusError {
  readonly exitCode = 1 as const;
  constructor(
    message: string,
    readonly code: 'store_locked' | 'store_newer' | 'store_foreign' | 'store_corrupt' | 'store_readonly' | 'store_full' | 'store_io',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Authentication or authorization a person must fix (exit 3). */
export class AuthError extends NexusError {
  readonly exitCode = 3 as const;
  constructor(
    message: string,
    /** `token_unavailable`: the token endpoint did not answer usefully (network, 5xx): not a person's to fix, the run ends `partial`. */
    readonly code: 'invalid_client' | 'api_key_rejected' | 'insufficient_scope' | 'token_rejected' | 'token_endpoint' | 'token_unavailable',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** SIGINT/SIGTERM after a clean checkpoint (exit 130). */
export class InterruptedError extends NexusError {
  readonly exitCode = 130 as const;
  readonly code = 'interrupted';
}

export function isNexusError(err: unknown): err is NexusError {
  return err instanceof NexusError;
}
