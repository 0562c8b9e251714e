/**
 * Child process of the overhead benchmark: the bare request loop the engine
 * is compared with. No store, no limiter, no outcome table: an undici Pool
 * with `concurrency` keep-alive connections (pipelining 1, as the runner's
 * HTTP client), `concurrency` loops each POSTing the next organization with
 * its Idempotency-Key and a bearer token, exactly the body the
 * zendesk-organizations job maps the same export line to. Prints one JSON
 * line {items, elapsed_s, items_per_s, statuses}.
 *
 * The clock starts before the token request and the file read, as the
 * engine's `elapsed_s` starts before its token request and its first page.
 *
 * Usage: node dist/test/bench/overhead-bare.js <base-url> <ca-file> <client-id> <client-secret> <orgs.ndjson> <concurrency>
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { Pool } from 'undici';

const [baseUrl, caFile, clientId, clientSecret, file, concurrencyArg] = process.argv.slice(2);
if (!concurrencyArg) {
  process.stderr.write('Usage: overhead-bare.js <base-url> <ca-file> <client-id> <client-secret> <orgs.ndjson> <concurrency>\n');
  process.exit(1);
}
const concurrency = Number(concurrencyArg);
const started = performance.now();
const origin = new URL(baseUrl!).origin;
const pool = new Pool(origin, {
  connections: concurrency,
  pipelining: 1,
  keepAliveTimeout: 30_000,
  connect: { secureContext: tls.createSecureContext({ ca: [...tls.rootCertificates, readFileSync(caFile!, 'utf8')] }), rejectUnauthorized: true },
});

const tokenRes = await pool.request({
  method: 'POST',
  path: '/oauth/token',
  headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
  body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId!, client_secret: clientSecret! }).toString(),
});
const tokenBody = (await tokenRes.body.json()) as { access_token?: string };
if (tokenRes.statusCode !== 200 || !tokenBody.access_token) throw new Error(`The token request answered ${tokenRes.statusCode}`);
const authorization = `Bearer ${tokenBody.access_token}`;

const lines = readFileSync(file!, 'utf8').split('\n').filter(Boolean);
const statuses: Record<string, number> = {};
let next = 0;
let items = 0;

async function loop(): Promise<void> {
  for (;;) {
    const i = next++;
    if (i >= lines.length) return;
    // Per request, the work any client must do: parse the export line, build the body.
    const o = JSON.parse(lines[i]!) as { id: number; name: string; domain_names?: string[]; details?: string | null; notes?: string | null; tags?: string[] };
    const key = String(o.id);
    const body = JSON.stringify({ external_id: key, name: o.name, domain_names: o.domain_names ?? [], details: o.details ?? null, notes: o.notes ?? null, tags: o.tags ?? [] });
    const res = await pool.request({
      method: 'POST',
      path: '/v1/organizations',
      headers: { accept: 'application/json', authorization, 'idempotency-key': key, 'content-type': 'application/json' },
      body,
    });
    const text = await res.body.text();
    if (res.statusCode === 201) {
      JSON.parse(text); // the runner reads the created id; so does the loop
      items++;
    }
    statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
  }
}

await Promise.all(Array.from({ length: concurrency }, loop));
const elapsedS = (performance.now() - started) / 1000;
await pool.close();
process.stdout.write(`${JSON.stringify({ items, elapsed_s: elapsedS, items_per_s: items / elapsedS, statuses })}\n`);
