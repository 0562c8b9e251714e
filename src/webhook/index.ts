/** Webhook signing and verification, for receivers of NexusCore events and for the simulator. */
export { verifyWebhookSignature, DEFAULT_TOLERANCE_SECONDS } from './verify.js';
export type { VerifyOptions, WebhookVerification } from './verify.js';
export { computeWebhookSignature, signWebhookPayload, SIGNATURE_HEADER } from './sign.js';
