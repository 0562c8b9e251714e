/** The public surface that job files import. */
export type {
  BrandResolver,
  ItemState,
  JobDefinition,
  MapContext,
  ParseResult,
  Refs,
  RequestSpec,
  Scope,
} from './types.js';
export { ItemRejectedError, MissingReferenceError } from './types.js';

import type { JobDefinition } from './types.js';

/** Declares a job. Returns it unchanged, typed; the loader checks its shape. */
export function defineJob<R>(job: JobDefinition<R>): JobDefinition<R> {
  return job;
}

export { verifyWebhookSignature, signWebhookPayload, computeWebhookSignature, SIGNATURE_HEADER } from './webhook/index.js';
