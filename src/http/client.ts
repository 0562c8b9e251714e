/**
 * One HTTPS request to the NexusCore API, on an undici Pool whose keep-alive
 * connections are sized to the concurrency. This layer never retries (the
 * engine owns every retry decision, see src/engine/outcome.ts), never follows
 * a redirect (a 3xx comes back as a response, and the credential stays here),
 * and refuses plain http:// before anything is sent.
 *
 * A request's timeout covers connecting, the headers and the whole body; the
 * body is read up to `maxBodyBytes`.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { Pool, util } from 'undici';
import { UsageError } from '../errors.js';
import { LiteSignal } from '../lite-signal.js';

export type NetworkErrorKind = 'timeout' | 'reset' | 'refused' | 'dns' | 'tls' | 'body_too_large' | 'protocol' | 'other';

/** The request got no usable response. `kind` drives the outcome table. */
export class NetworkError extends Error {
  override readonly name = 'NetworkError';
  constructor(
    readonly kind: NetworkErrorKind,
    message: string,
    readonly method: string,
    readonly path: string,
    /** The underlying error code (ECONNRESET, UND_ERR_SOCKET, ...), when there was one. */
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  toJSON(): Record<string, unknown> {
    return { name: this.name, kind: this.kind, code: this.code, method: this.method, path: this.path, message: this.message };
  }
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** Relative to the base URL, starting with `/` (may carry a query string). */
  path: string;
  headers?: Record<string, string>;
  /** Sent as application/json. */
  json?: unknown;
  /** Sent as application/x-www-form-urlencoded. */
  form?: Record<string, string>;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON when the server said JSON (and it parsed), else the text ('' when empty). */
  body: unknown;
  /** From the start of the request to the end of the body. */
  latencyMs: number;
}

export interface HttpClientOptions {
  baseUrl: string;
  /** PEM file of an extra CA, trusted in addition to the system roots. */
  caFile?: string;
  /** Keep-alive connections: the most requests in flight. */
  concurrency: number;
  /** Per request: connect + headers + body. */
  timeoutMs: number;
  /** Default 10 MiB. */
  maxBodyBytes?: number;
}

export interface HttpClient {
  /** The https origin plus path prefix, no trailing slash. */
  readonly baseUrl: string;
  readonly origin: string;
  request(req: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Validates a base URL: https only, no embedded credentials. Throws UsageError (exit 1). */
export function parseBaseUrl(baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch (err) {
    throw new UsageError(`Expected --base-url (or NEXUSCORE_BASE_URL) to be a URL like https://api.support.nexuscore.cloud, got \`${baseUrl}\`.`, { cause: err });
  }
  if (url.protocol !== 'https:') {
    throw new UsageError(
      `Refusing base URL \`${url.origin}\`: NexusCore is served over HTTPS only and a token must never travel over plain ${url.protocol.replace(':', '')}. Use an https:// URL (with --ca-file for a private CA).`,
    );
  }
  if (url.username || url.password) {
    throw new UsageError('Refusing a base URL with a user name or password in it: credentials come from NEXUSCORE_CLIENT_ID/NEXUSCORE_CLIENT_SECRET or NEXUSCORE_API_KEY only.');
  }
  if (url.search || url.hash) {
    throw new UsageError(`Expected --base-url without a query or fragment, got \`${url.origin}${url.pathname}${url.search}${url.hash}\`.`);
  }
  return url;
}

function loadCa(caFile: string): string[] {
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (err) {
    throw new UsageError(`Cannot read the CA file \`${caFile}\` (--ca-file / NEXUSCORE_CA_FILE): ${(err as NodeJS.ErrnoException).code ?? String(err)}. Check the path, or unset it to trust the system roots alone.`, { cause: err });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new UsageError(`The CA file \`${caFile}\` holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line). Point --ca-file at the PEM of the CA that signed the server's certificate.`);
  }
  return [...tls.rootCertificates, pem];
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_OSSL)/;

/** Maps an undici / socket error to a kind. */
export function classifyNetworkError(err: unknown): { kind: NetworkErrorKind; code?: string } {
  const e = err as { code?: string; cause?: { code?: string } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  const inner = e?.cause?.code;
  for (const c of [inner, code]) {
    if (!c) continue;
    if (TLS_CODES.test(c)) return { kind: 'tls', code: c };
  }
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return { kind: 'timeout', code };
    case 'ECONNREFUSED':
      return { kind: 'refused', code };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { kind: 'dns', code };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return { kind: 'reset', code };
    case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
      return { kind: 'body_too_large', code };
    case 'HPE_INVALID_CONSTANT':
    case 'UND_ERR_HEADERS_OVERFLOW':
    case 'UND_ERR_INFO':
      return { kind: 'protocol', code };
  }
  if (code?.startsWith('HPE_')) return { kind: 'protocol', code };
  return code ? { kind: 'other', code } : { kind: 'other' };
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text === '' || !contentType || !/[/+]json\b/i.test(contentType)) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function createHttpClient(opts: HttpClientOptions): HttpClient {
  const url = parseBaseUrl(opts.baseUrl);
  if (!(Number.isInteger(opts.concurrency) && opts.concurrency >= 1)) {
    throw new UsageError(`Expected --concurrency to be a whole number >= 1, got \`${opts.concurrency}\`.`);
  }
  if (!(opts.timeoutMs > 0)) throw new UsageError(`Expected --timeout to be longer than 0, got \`${opts.timeoutMs}\` ms.`);
  // One secure context for every connection: a `ca` list given per connect
  // is re-parsed (150-odd system roots) on each handshake, stalling the loop.
  const secureContext = opts.caFile ? tls.createSecureContext({ ca: loadCa(opts.caFile) }) : undefined;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const prefix = url.pathname.replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs;
  const deadlines = new DeadlineQueue(timeoutMs);
  const pool = new Pool(url.origin, {
    connections: opts.concurrency,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: { ...(secureContext ? { secureContext } : {}), timeout: Math.min(timeoutMs, 10_000), rejectUnauthorized: true },
  });

  async function request(req: HttpRequest): Promise<HttpResponse> {
    if (!req.path.startsWith('/') || req.path.startsWith('//')) {
      throw new UsageError(`Expected a request path relative to the base URL starting with a single /, got \`${req.path}\`.`);
    }
    const path = prefix + req.path;
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    let body: string | undefined;
    if (req.form) {
      body = new URLSearchParams(req.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else if (req.json !== undefined) {
      body = JSON.stringify(req.json);
      headers['content-type'] = 'application/json';
    }
    // One deadline per request on a shared timer (see DeadlineQueue), aborting undici's request: cheaper
    // than AbortSignal.timeout + AbortSignal.any per request (a timer, an EventTarget, weak references).
    const deadline = deadlines.start();
    const unlink = req.signal ? link(req.signal, deadline) : undefined;
    const started = performance.now();
    const fail = (err: unknown): never => {
      if (req.signal?.aborted) throw req.signal.reason;
      if (err instanceof NetworkError) throw err;
      if (deadline.aborted) {
        throw new NetworkError('timeout', `${req.method} ${req.path} got no complete response within ${timeoutMs} ms (--timeout).`, req.method, req.path, 'timeout', { cause: err });
      }
      const { kind, code } = classifyNetworkError(err);
      const what = kind === 'tls' ? ` TLS verification failed (${code}); if the server uses a private CA, pass its PEM with --ca-file.` : '';
      throw new NetworkError(kind, `${req.method} ${req.path} failed: ${kind}${code ? ` (${code})` : ''}.${what}`, req.method, req.path, code, { cause: err });
    };
    try {
      const res = await exchange(pool, { method: req.method, path, headers, body }, deadline, maxBody);
      deadlines.finish(deadline);
      unlink?.();
      if (res.tooLarge) {
        const declared = res.tooLarge === 'declared' ? `a ${res.headers['content-length']}-byte body,` : 'a body';
        throw new NetworkError('body_too_large', `${req.method} ${req.path} answered ${res.status} with ${declared} over the ${maxBody}-byte cap.`, req.method, req.path);
      }
      const ct = res.headers['content-type'];
      return {
        status: res.status,
        headers: res.headers,
        body: parseBody(res.text, Array.isArray(ct) ? ct[0] : ct),
        latencyMs: performance.now() - started,
      };
    } catch (err) {
      deadlines.finish(deadline);
      unlink?.();
      return fail(err);
    }
  }

  const close = async () => {
    deadlines.clear();
    await pool.destroy();
  };
  return {
    baseUrl: url.origin + prefix,
    origin: url.origin,
    request,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A request's deadline, and the signal undici aborts the request with (see LiteSignal). */
class Deadline extends LiteSignal {
  /** performance.now() at which it fires. */
  readonly at: number;
  done = false;
  constructor(at: number) {
    super();
    this.at = at;
  }
}

/**
 * Every request's deadline is start + the one timeout of the client, so
 * deadlines arrive in order: a FIFO queue with one timer, armed for the
 * oldest unfinished request, replaces a timer per request. Finished entries
 * are dropped from the front as they finish (requests mostly finish in order).
 */
class DeadlineQueue {
  #q: Deadline[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  constructor(readonly timeoutMs: number) {}

  start(): Deadline {
    const d = new Deadline(performance.now() + this.timeoutMs);
    this.#q.push(d);
    if (this.#timer === undefined) this.#arm(d.at);
    return d;
  }

  finish(d: Deadline): void {
    if (d.done) return;
    d.done = true;
    const q = this.#q;
    while (this.#head < q.length && q[this.#head]!.done) this.#head++;
    if (this.#head === q.length) {
      this.#q = [];
      this.#head = 0;
      // Nothing left to time: the timer may stay armed (it finds nothing and stops).
    } else if (this.#head > 1024 && this.#head > q.length / 2) {
      this.#q = q.slice(this.#head);
      this.#head = 0;
    }
  }

  #arm(at: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(1, Math.ceil(at - performance.now())));
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    const now = performance.now();
    const q = this.#q;
    while (this.#head < q.length) {
      const d = q[this.#head]!;
      if (!d.done && d.at > now) break;
      this.#head++;
      if (!d.done) {
        d.done = true;
        d.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
      }
    }
    if (this.#head === q.length) {
      this.#q = [];
      this.#head = 0;
    } else this.#arm(q[this.#head]!.at);
  }

  clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Aborts `d` when the caller's signal aborts; returns the unlink. */
function link(signal: AbortSignal, d: Deadline): () => void {
  if (signal.aborted) {
    d.abort(signal.reason);
    return () => {};
  }
  const onAbort = () => d.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

interface Exchanged {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** Set when the body went over the cap: the request was aborted there. */
  tooLarge?: 'declared' | 'read';
}

/**
 * One request on undici's dispatch API, the body collected as it arrives.
 * `pool.request()` wraps each response in an AsyncResource and a Readable
 * stream that we would only drain into a string; on the send path (every
 * item of a run) that machinery cost more than the rest of this client.
 * The deadline aborts the request wherever it is: queued, on the wire or
 * mid-body.
 */
function exchange(pool: Pool, opts: { method: string; path: string; headers: Record<string, string>; body: string | undefined }, deadline: Deadline, max: number): Promise<Exchanged> {
  return new Promise<Exchanged>((resolve, reject) => {
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    let size = 0;
    let abort: ((err: Error) => void) | undefined;
    let settled = false;
    const onDeadline = () => abort?.(deadline.reason as Error);
    deadline.addEventListener('abort', onDeadline);
    const finish = (value: Exchanged | undefined, err?: unknown) => {
      if (settled) return;
      settled = true;
      deadline.removeEventListener('abort', onDeadline);
      if (value) resolve(value);
      else reject(err);
    };
    pool.dispatch(opts as Parameters<Pool['dispatch']>[0], {
      onConnect(abortRequest: (err: Error) => void) {
        if (deadline.aborted) abortRequest(deadline.reason as Error);
        else abort = abortRequest;
      },
      onHeaders(statusCode: number, raw: Buffer[]) {
        if (statusCode < 200) return true; // 1xx: the real status follows
        status = statusCode;
        headers = util.parseHeaders(raw) as Record<string, string | string[] | undefined>;
        const declared = Number(headers['content-length']);
        if (Number.isFinite(declared) && declared > max) {
          finish({ status, headers, text: '', tooLarge: 'declared' });
          abort?.(new Error('body over the cap'));
          return false;
        }
        return true;
      },
      onData(chunk: Buffer) {
        size += chunk.length;
        if (size > max) {
          finish({ status, headers, text: '', tooLarge: 'read' });
          abort?.(new Error('body over the cap'));
          return false;
        }
        if (first === undefined) first = chunk;
        else (chunks ??= [first]).push(chunk);
        return true;
      },
      onComplete() {
        finish({ status, headers, text: chunks ? Buffer.concat(chunks).toString('utf8') : first ? first.toString('utf8') : '' });
      },
      onError(err: Error) {
        finish(undefined, err);
      },
    } as unknown as Parameters<Pool['dispatch']>[1]);
  });
}
