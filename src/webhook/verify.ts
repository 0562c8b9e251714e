/**
 * Verification of `X-Nexuscore-Signature` on a webhook delivery, for
 * receivers. Never throws on bad input: every rejection is a reason, because a
 * receiver must answer an attacker's garbage with a 4xx, not a crash.
 */
import { timingSafeEqual } from 'node:crypto';
import { computeWebhookSignature } from './sign.js';

export type WebhookVerification = { ok: true; timestamp: number } | { ok: false; reason: string };

export interface VerifyOptions {
  /** Largest accepted |now - t|, in seconds. Default 300, as the vendor asks. */
  toleranceSeconds?: number;
  /** The receiver's clock, epoch ms. Default Date.now(). */
  now?: number;
}

export const DEFAULT_TOLERANCE_SECONDS = 300;

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/**
 * Checks `header` (`t=<unix s>,v1=<hex>[,v1=<hex>...]`) against `rawBody` and
 * any of `secrets`. Several `v1` entries appear while the sender rotates its
 * secret; several secrets appear while the receiver rotates its own. Any one
 * pair matching is enough. Unknown schemes (`v0=`, `v2=`) are ignored, as
 * signing schemes are added over time; a second `t=` is refused because the
 * signed timestamp would be ambiguous.
 */
export function verifyWebhookSignature(
  rawBody: string | Buffer,
  header: string | undefined,
  secrets: string | readonly string[],
  opts: VerifyOptions = {},
): WebhookVerification {
  try {
    return verify(rawBody, header, secrets, opts);
  } catch (err) {
    // Only reachable through inputs of the wrong type from untyped callers.
    return { ok: false, reason: `could not verify: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function verify(
  rawBody: string | Buffer,
  header: string | undefined,
  secrets: string | readonly string[],
  opts: VerifyOptions,
): WebhookVerification {
  const tolerance = opts.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    return { ok: false, reason: `tolerance must be a number of seconds >= 0, got ${String(tolerance)}` };
  }
  const secretList = (typeof secrets === 'string' ? [secrets] : [...(secrets ?? [])]).filter(
    (s) => typeof s === 'string' && s.length > 0,
  );
  if (secretList.length === 0) return { ok: false, reason: 'no webhook secret configured to verify with' };
  if (typeof rawBody !== 'string' && !Buffer.isBuffer(rawBody)) {
    return { ok: false, reason: 'the raw body must be a string or a Buffer (verify the bytes received, not re-serialized JSON)' };
  }
  if (header === undefined || header === null || String(header).trim() === '') {
    return { ok: false, reason: 'missing X-Nexuscore-Signature header' };
  }

  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of String(header).split(',')) {
    const item = part.trim();
    const eq = item.indexOf('=');
    if (eq <= 0) return { ok: false, reason: `malformed signature header: \`${truncate(item)}\` is not key=value` };
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined) return { ok: false, reason: 'malformed signature header: more than one t= field' };
      if (!/^\d{1,15}$/.test(value)) {
        return { ok: false, reason: `malformed signature header: t=\`${truncate(value)}\` is not a unix time in seconds` };
      }
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!HEX_SHA256.test(value)) {
        return { ok: false, reason: `malformed signature header: v1 must be 64 hex characters, got \`${truncate(value)}\`` };
      }
      signatures.push(value.toLowerCase());
    }
  }
  if (timestamp === undefined) return { ok: false, reason: 'malformed signature header: no t= field' };
  if (signatures.length === 0) return { ok: false, reason: 'malformed signature header: no v1= signature' };

  const nowS = (opts.now ?? Date.now()) / 1000;
  const skew = nowS - timestamp;
  if (skew > tolerance) {
    return { ok: false, reason: `timestamp too old: signed ${Math.round(skew)} s ago, tolerance ${tolerance} s (a replay, or a clock off)` };
  }
  if (-skew > tolerance) {
    return { ok: false, reason: `timestamp in the future: ${Math.round(-skew)} s ahead, tolerance ${tolerance} s (check the clocks)` };
  }

  const given = signatures.map((s) => Buffer.from(s, 'hex'));
  // Compare against every expected value without stopping early, so timing
  // tells nothing about which secret or entry came close.
  let matched = false;
  for (const secret of secretList) {
    const expected = Buffer.from(computeWebhookSignature(secret, timestamp, rawBody), 'hex');
    for (const sig of given) {
      if (timingSafeEqual(expected, sig)) matched = true;
    }
  }
  if (!matched) {
    return { ok: false, reason: 'signature mismatch: the body was altered or signed with another secret' };
  }
  return { ok: true, timestamp };
}

function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
}
