/**
 * Secrets and tokens appear nowhere: every error message the auth and sender
 * layers build passes through `redact`, and reporters may run any text they
 * print through it too.
 *
 * Two nets: the exact values registered by the providers (client secret, API
 * key, every access token issued), and patterns for anything that looks like
 * a credential (a bearer header, an `nxk_` key or `nxt_` token, a JWT, `client_secret=`,
 * `"access_token": "..."`) in text we did not build ourselves, such as a
 * server's error body.
 */

const registered = new Set<string>();
/** Values shorter than this are not registered: masking "a" everywhere would garble text. */
const MIN_SECRET_LENGTH = 6;

export const REDACTED = '[redacted]';

/** Registers a secret value for masking, process-wide. */
export function registerSecret(value: string | undefined | null): void {
  if (value && value.length >= MIN_SECRET_LENGTH) registered.add(value);
}

/** Forgets a value (a token that expired long ago); masking it does no harm, this only bounds memory. */
export function forgetSecret(value: string): void {
  registered.delete(value);
}

const PATTERNS: [RegExp, string][] = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi, `$1 ${REDACTED}`],
  [/\b(nxk|nxt)_[A-Za-z0-9_-]{8,}/g, `$1_${REDACTED}`],
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, REDACTED],
  [/\b(client_secret|access_token|refresh_token|api_key|apikey|password)=[^&\s"']+/gi, `$1=${REDACTED}`],
  [/"(client_secret|access_token|refresh_token|api_key|apiKey|clientSecret|accessToken|authorization|password)"\s*:\s*"[^"]*"/gi, `"$1":"${REDACTED}"`],
  [/\b(authorization)\s*:\s*[^\s,;]+(\s+[^\s,;]+)?/gi, `$1: ${REDACTED}`],
];

/** The text with every registered secret and credential-looking string masked. */
export function redact(text: string): string {
  let out = text;
  // Longest first, so a secret containing another is masked whole.
  for (const s of [...registered].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) out = out.split(s).join(REDACTED);
  }
  for (const [re, to] of PATTERNS) out = out.replace(re, to);
  return out;
}

/** JSON of any value (errors included: name, message, code, cause chain), redacted. */
export function redactedJson(value: unknown): string {
  const seen = new WeakSet<object>();
  const json = JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof Error) {
      if (seen.has(v)) return '[circular]';
      seen.add(v);
      const plain: Record<string, unknown> = { name: v.name, message: v.message };
      for (const [k, val] of Object.entries(v)) plain[k] = val;
      if (v.cause !== undefined) plain.cause = v.cause;
      return plain;
    }
    return v;
  });
  return redact(json ?? 'undefined');
}
