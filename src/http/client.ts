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
import { Pool } from 'undici';
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
    const signal = deadline;
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
    let res: Awaited<ReturnType<Pool['request']>>;
    try {
      res = await pool.request({ method: req.method, path, headers, body, signal });
    } catch (err) {
      deadlines.finish(deadline);
      unlink?.();
      return fail(err);
    }
    try {
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBody) {
        throw new NetworkError('body_too_large', `${req.method} ${req.path} answered ${res.statusCode} with a ${declared}-byte body, over the ${maxBody}-byte cap.`, req.method, req.path);
      }
      const text = await readText(res.body, maxBody, () => new NetworkError('body_too_large', `${req.method} ${req.path} answered ${res.statusCode} with a body over the ${maxBody}-byte cap.`, req.method, req.path));
      deadlines.finish(deadline);
      unlink?.();
      const ct = res.headers['content-type'];
      return {
        status: res.statusCode,
        headers: res.headers,
        body: parseBody(text, Array.isArray(ct) ? ct[0] : ct),
        latencyMs: performance.now() - started,
      };
    } catch (err) {
      res.body.destroy();
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

/** Reads a response body as UTF-8 text, failing with `tooLarge()` past `max` bytes. */
function readText(body: NodeJS.ReadableStream & { destroy(err?: Error): void }, max: number, tooLarge: () => Error): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        cleanup();
        reject(tooLarge());
        return;
      }
      if (first === undefined) first = chunk;
      else (chunks ??= [first]).push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks ? Buffer.concat(chunks).toString('utf8') : first ? first.toString('utf8') : '');
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      // Closed without 'end' (destroyed): an error event normally came first.
      cleanup();
      reject(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    const cleanup = () => {
      body.removeListener('data', onData);
      body.removeListener('end', onEnd);
      body.removeListener('error', onError);
      body.removeListener('close', onClose);
    };
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
  });
}
