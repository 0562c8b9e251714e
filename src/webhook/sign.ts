/**
 * Signing of NexusCore webhook deliveries (docs/nexuscore-api.md, Webhooks):
 * `X-Nexuscore-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
 * The simulator signs with these helpers and receivers verify with ./verify.ts,
 * so both sides share one definition of the signed payload.
 */
import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-nexuscore-signature';

/** Hex HMAC-SHA256 of `"<t>.<raw body>"` under `secret`. */
export function computeWebhookSignature(secret: string, timestampSeconds: number, rawBody: string | Buffer): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestampSeconds}.`);
  mac.update(rawBody);
  return mac.digest('hex');
}

/**
 * The header value for a delivery: one `v1=` per secret, so a receiver that
 * knows either the old or the new secret accepts it while a secret rotates.
 */
export function signWebhookPayload(
  rawBody: string | Buffer,
  secrets: string | readonly string[],
  timestampSeconds: number = Math.floor(Date.now() / 1000),
): string {
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  if (list.length === 0) throw new TypeError('signWebhookPayload needs at least one secret to sign with.');
  return [`t=${timestampSeconds}`, ...list.map((s) => `v1=${computeWebhookSignature(s, timestampSeconds, rawBody)}`)].join(',');
}
