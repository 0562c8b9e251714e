/**
 * The HTTPS client alone, against a tiny HTTPS server whose every answer is
 * scripted: bodies in pieces, bodies over the cap (declared and not), a
 * deadline that passes mid-body, the caller's abort, 1xx before the answer,
 * a connection cut mid-body. Each case is followed by a request that must
 * still work on the same client.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpClient, NetworkError, type HttpClient } from '../../src/http/client.js';
import { loadTlsMaterial } from '../../src/sim/tls.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server | undefined;
let client: HttpClient | undefined;
afterEach(async () => {
  await client?.close();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = client = undefined;
});

/** Serves `routes` by path; anything else answers 200 {"ok":true}. */
async function start(routes: Record<string, Handler>, opts: { timeoutMs?: number; maxBodyBytes?: number } = {}): Promise<HttpClient> {
  const tls = loadTlsMaterial();
  server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const h = routes[req.url ?? ''];
    if (h) return h(req, res);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = createHttpClient({ baseUrl: url, caFile: tls.caFile, concurrency: 2, timeoutMs: opts.timeoutMs ?? 5000, maxBodyBytes: opts.maxBodyBytes });
  return client;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function networkError(p: Promise<unknown>): Promise<NetworkError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NetworkError);
  return err as NetworkError;
}

async function stillWorks(c: HttpClient): Promise<void> {
  const ok = await c.request({ method: 'GET', path: '/ok' });
  expect(ok).toMatchObject({ status: 200, body: { ok: true } });
}

describe('HTTP client over real sockets', () => {
  it('sends the JSON body and headers; a body arriving in pieces (a character split across them) is whole', async () => {
    let seen: { method?: string; type?: string; key?: string; body: string } = { body: '' };
    const c = await start({
      '/pieces': (req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d: string) => (body += d));
        req.on('end', async () => {
          seen = { method: req.method, type: req.headers['content-type'], key: req.headers['idempotency-key'] as string, body };
          const bytes = Buffer.from(JSON.stringify({ name: 'Zoë Ünicode ✓', n: 42 }));
          const cut = bytes.indexOf(Buffer.from('ë')) + 1; // inside the two bytes of ë
          res.writeHead(201, { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'req_1', 'set-cookie': ['a=1', 'b=2'] });
          res.write(bytes.subarray(0, cut));
          await sleep(20);
          res.write(bytes.subarray(cut, cut + 5));
          await sleep(20);
          res.end(bytes.subarray(cut + 5));
        });
      },
    });
    const res = await c.request({ method: 'POST', path: '/pieces', headers: { 'idempotency-key': 'k1' }, json: { a: 1 } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ name: 'Zoë Ünicode ✓', n: 42 });
    expect(res.headers['x-request-id']).toBe('req_1');
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(res.latencyMs).toBeGreaterThanOrEqual(30);
    expect(seen).toEqual({ method: 'POST', type: 'application/json', key: 'k1', body: '{"a":1}' });
  });

  it('a body that is not JSON comes back as text, an empty one as ""', async () => {
    const c = await start({
      '/text': (_req, res) => res.writeHead(503, { 'content-type': 'text/html' }).end('<h1>down</h1>'),
      '/empty': (_req, res) => res.writeHead(204).end(),
      '/badjson': (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"cut'),
    });
    expect(await c.request({ method: 'GET', path: '/text' })).toMatchObject({ status: 503, body: '<h1>down</h1>' });
    expect(await c.request({ method: 'DELETE', path: '/empty' })).toMatchObject({ status: 204, body: '' });
    expect(await c.request({ method: 'GET', path: '/badjson' })).toMatchObject({ status: 200, body: '{"cut' });
  });

  it('a body over the cap fails as body_too_large, declared or streamed, and the client goes on', async () => {
    const c = await start(
      {
        '/declared': (_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': '5000' }).end('x'.repeat(5000)),
        '/streamed': async (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          for (let i = 0; i < 10 && !res.destroyed; i++) {
            res.write('y'.repeat(600));
            await sleep(5);
          }
          res.end();
        },
        '/under': (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('z'.repeat(1024)),
      },
      { maxBodyBytes: 1024 },
    );
    const declared = await networkError(c.request({ method: 'GET', path: '/declared' }));
    expect(declared.kind).toBe('body_too_large');
    expect(declared.message).toBe('GET /declared answered 200 with a 5000-byte body, over the 1024-byte cap.');
    const streamed = await networkError(c.request({ method: 'GET', path: '/streamed' }));
    expect(streamed.kind).toBe('body_too_large');
    expect(streamed.message).toBe('GET /streamed answered 200 with a body over the 1024-byte cap.');
    expect(await c.request({ method: 'GET', path: '/under' })).toMatchObject({ status: 200, body: 'z'.repeat(1024) });
    await stillWorks(c);
  });

  it('the deadline covers the body: headers on time and a body that stalls is a timeout', async () => {
    const c = await start(
      {
        '/stall': (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"partial":');
        },
      },
      { timeoutMs: 300 },
    );
    const t0 = performance.now();
    const err = await networkError(c.request({ method: 'GET', path: '/stall' }));
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe('GET /stall got no complete response within 300 ms (--timeout).');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    await stillWorks(c);
  });

  it("the caller's abort ends the request with the caller's reason, not a network error", async () => {
    const c = await start({ '/slow': (_req, res) => void setTimeout(() => res.writeHead(200).end('late'), 2000) });
    const ac = new AbortController();
    const p = c.request({ method: 'GET', path: '/slow', signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stopping: Ctrl-C')), 50);
    await expect(p).rejects.toThrow('stopping: Ctrl-C');
    await stillWorks(c);
  });

  it('1xx answers before the real one are skipped', async () => {
    const c = await start({
      '/hints': (_req, res) => {
        res.writeEarlyHints({ link: '</x>; rel=preload' });
        setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"after":"hints"}'), 20);
      },
    });
    expect(await c.request({ method: 'GET', path: '/hints' })).toMatchObject({ status: 200, body: { after: 'hints' } });
  });

  it('a connection cut mid-body is a reset, and the next request gets a fresh connection', async () => {
    const c = await start({
      '/cut': (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"half":');
        setTimeout(() => res.socket?.destroy(), 20);
      },
    });
    const err = await networkError(c.request({ method: 'GET', path: '/cut' }));
    expect(err.kind).toBe('reset');
    expect(err.message).toMatch(/^GET \/cut failed: reset \(/);
    await stillWorks(c);
  });
});
