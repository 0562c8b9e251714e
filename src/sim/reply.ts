/** What a handler answers, before it goes on the wire (or into the idempotency store for replays). */
export interface Reply {
  status: number;
  /** Serialized JSON, kept as text so a replay resends the exact bytes. */
  body: string;
  headers?: Record<string, string>;
}

export function json(status: number, body: unknown, headers?: Record<string, string>): Reply {
  return headers ? { status, body: JSON.stringify(body), headers } : { status, body: JSON.stringify(body) };
}

/** The API's error body: `{"error": {"code", "message", ...extra}}`. */
export function apiError(status: number, code: string, message: string, extra?: Record<string, unknown>, headers?: Record<string, string>): Reply {
  return json(status, { error: { code, message, ...extra } }, headers);
}
