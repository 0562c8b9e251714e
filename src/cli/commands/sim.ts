/**
 * `nexus-backfill sim`: runs the NexusCore simulator in the foreground and
 * prints one JSON line of connection details once it listens, for scripts
 * (and tests) to read. Everything human goes to stderr.
 */
import type { Argv } from 'yargs';
import { parseDuration, parseWindow, formatWindow } from '../../duration.js';
import { UsageError } from '../../errors.js';
import { DEFAULT_BRANDS, startSimulator } from '../../sim/index.js';
import type { FaultConfig, SimBrand, SimOptions } from '../../sim/index.js';
import { DEFAULT_WINDOWS, type RateWindow } from '../../types.js';
import type { CommandSpec } from './command.js';

const FAULT_FLAGS: Record<string, keyof FaultConfig> = {
  'fault-500': 'error500',
  'fault-502': 'error502',
  'fault-503': 'error503',
  'fault-drop': 'storeThenDrop',
  'fault-reset': 'resetBeforeStore',
  'fault-hang': 'hang',
};

/** The NexusCore brands of the bundled sample export's two Zendesk brands (matched by subdomain). */
export const SAMPLE_BRANDS: readonly SimBrand[] = [
  { id: 'brd_example', name: 'Example Support', subdomain: 'example' },
  { id: 'brd_shop', name: 'Example Shop', subdomain: 'shop-example' },
];

export const simCommand: CommandSpec = {
  command: 'sim',
  describe: 'Run the NexusCore API simulator (HTTPS) in the foreground, for tests, demos and rehearsals',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 sim [options]\n\n' +
          'Serves the NexusCore API (OAuth tokens, organizations, users, tickets, brands, webhooks) over\n' +
          'HTTPS with the test CA in data/tls. Its workspace has brands for the bundled sample export\n' +
          '(subdomains example, shop-example) besides acme, globex and initech. It enforces\n' +
          'the workspace quota, idempotency and external_id uniqueness, and injects faults\n' +
          'on request. Once listening it prints ONE JSON line on stdout:\n' +
          '  {"url","ca_file","client_id","client_secret","api_key","webhook_secret"}\n' +
          'and runs until Ctrl-C or SIGTERM. Point the runner at it with --base-url and --ca-file, and\n' +
          'NEXUSCORE_CLIENT_ID/NEXUSCORE_CLIENT_SECRET or NEXUSCORE_API_KEY from that line.\n\n' +
          'Control and truth endpoints (simulator only, no auth): GET /__sim/stats, GET /__sim/records?type=,\n' +
          'POST /__sim/faults {"error503":0.1,...}, POST /__sim/revoke {"at"?:epoch ms},\n' +
          'POST /__sim/limits {"limits":["10/1s"]}, POST /__sim/clients, POST /__sim/api-keys.',
      )
      .option('port', { type: 'number', default: 0, describe: 'Port to listen on; 0 picks a free one (read it from the JSON line)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to listen on (the certificate covers localhost, 127.0.0.1, ::1)' })
      .option('token-ttl', { type: 'string', default: '3600', describe: 'Access-token lifetime: seconds or a duration (90s, 5m, 1h)' })
      .option('limit', {
        type: 'string',
        array: true,
        describe: 'Quota window N/WINDOW, repeatable, all enforced at once (e.g. --limit 15/1s); --no-limit lifts the quota',
        defaultDescription: DEFAULT_WINDOWS.map(formatWindow).join(' and '),
      })
      .option('unique-external-id', { type: 'boolean', default: true, describe: 'Refuse a taken external_id with 409 duplicate_external_id (--no-unique-external-id: store duplicates, as older workspaces do)' })
      .option('idempotency-ttl', { type: 'string', default: '24h', describe: 'How long an Idempotency-Key is remembered' })
      .option('ratelimit-headers', { type: 'boolean', default: false, describe: 'Send IETF draft RateLimit-Policy / RateLimit headers' })
      .option('retry-after', { type: 'boolean', default: true, describe: 'Send Retry-After on 429 (--no-retry-after: omit it, as some proxies do)' })
      .option('seed', { type: 'number', default: 1, describe: 'Seed of the PRNG behind faults and jitter: the same seed replays the same decisions' })
      .option('fault-500', { type: 'number', default: 0, describe: 'Probability (0..1) of a 500 before anything is stored' })
      .option('fault-502', { type: 'number', default: 0, describe: 'Probability of a 502 before anything is stored' })
      .option('fault-503', { type: 'number', default: 0, describe: 'Probability of a 503 before anything is stored' })
      .option('fault-drop', { type: 'number', default: 0, describe: 'Probability of storing the record, then closing the connection without a response' })
      .option('fault-reset', { type: 'number', default: 0, describe: 'Probability of resetting the connection before storing anything' })
      .option('fault-hang', { type: 'number', default: 0, describe: 'Probability of never answering (the client must time out)' })
      .option('latency', { type: 'string', default: '0ms', describe: 'Added latency per API request (250ms, 1s)' })
      .option('jitter', { type: 'string', default: '0ms', describe: 'Extra random latency, uniform in [0, jitter)' })
      .option('revoke-at', { type: 'string', describe: 'Revoke every live token at a time: a duration from start (30s) or an RFC 3339 time' })
      .option('webhook-url', { type: 'string', describe: 'POST signed ticket.created / ticket.updated / user.created events here' })
      .option('webhook-ca-file', { type: 'string', describe: 'Extra CA (PEM) to trust for an https --webhook-url' })
      .example('$0 sim --port 8443', 'The vendor defaults: 600/60s and 150/10s')
      .example('$0 sim --limit 15/1s --fault-503 0.05 --fault-drop 0.02 --seed 7', 'A fast, flaky workspace for rehearsals')
      .example('$0 sim --no-limit', 'No quota, e.g. to benchmark the runner itself')
      .example('$0 sim --token-ttl 30s --revoke-at 2m', 'Exercise token refresh and revocation'),
  handler: async (args: Record<string, any>) => {
    const options = simOptionsFromArgs(args);
    const sim = await startSimulator(options).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
        const why = err.code === 'EADDRINUSE' ? 'is in use' : err.code === 'EACCES' ? 'needs privileges' : 'is not an address of this machine';
        throw new UsageError(`Cannot listen on ${options.host}:${options.port}: it ${why} (${err.code}). Pick another --port (0 picks a free one) or --host.`);
      }
      throw err;
    });
    process.stdout.write(
      `${JSON.stringify({ url: sim.url, ca_file: sim.caFile, client_id: sim.clientId, client_secret: sim.clientSecret, api_key: sim.apiKey, webhook_secret: sim.webhookSecret })}\n`,
    );
    const limits = sim.stats().limits;
    process.stderr.write(
      `NexusCore simulator listening on ${sim.url} (quota: ${limits.length ? limits.map(formatWindow).join(', ') : 'none'}). ` +
        `Stats: ${sim.url}/__sim/stats. Ctrl-C to stop.\n`,
    );
    if (args['revoke-at'] !== undefined) sim.revokeAllTokens(parseRevokeAt(String(args['revoke-at']), Date.now()));
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await sim.close();
    process.stderr.write('NexusCore simulator stopped.\n');
    return 0;
  },
};

/** Flags to SimOptions; every bad value is a UsageError naming its flag. */
export function simOptionsFromArgs(args: Record<string, any>): SimOptions {
  const faults: Partial<FaultConfig> = {};
  for (const [flag, key] of Object.entries(FAULT_FLAGS)) {
    const p = Number(args[flag] ?? 0);
    if (!Number.isFinite(p) || p < 0 || p > 1) throw new UsageError(`Expected --${flag} to be a probability from 0 to 1, got \`${args[flag]}\`.`);
    faults[key] = p;
  }
  faults.latencyMs = parseDuration(String(args.latency ?? '0ms'), '--latency');
  faults.jitterMs = parseDuration(String(args.jitter ?? '0ms'), '--jitter');
  const sum = Object.values(FAULT_FLAGS).reduce((s, k) => s + (faults[k] ?? 0), 0);
  if (sum > 1) throw new UsageError(`The --fault-* probabilities add up to ${sum}; one draw picks at most one fault, so keep the sum <= 1.`);

  let limits: RateWindow[] = [...DEFAULT_WINDOWS];
  const raw = args.limit as (string | boolean)[] | boolean | undefined;
  if (raw === false || (Array.isArray(raw) && raw.includes(false))) limits = [];
  else if (Array.isArray(raw) && raw.length > 0) limits = raw.map((w) => parseWindow(String(w), '--limit'));

  const port = Number(args.port ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`Expected --port to be 0..65535, got \`${args.port}\`.`);
  const seed = Number(args.seed ?? 1);
  if (!Number.isInteger(seed)) throw new UsageError(`Expected --seed to be a whole number, got \`${args.seed}\`.`);
  const tokenTtlMs = parseDuration(String(args['token-ttl'] ?? '3600'), '--token-ttl');
  if (tokenTtlMs < 1000) throw new UsageError(`Expected --token-ttl to be at least 1s, got \`${args['token-ttl']}\`.`);
  const idempotencyTtlMs = parseDuration(String(args['idempotency-ttl'] ?? '24h'), '--idempotency-ttl');
  if (idempotencyTtlMs < 1) throw new UsageError(`Expected --idempotency-ttl to be longer than 0, got \`${args['idempotency-ttl']}\`.`);
  if (args['webhook-url'] !== undefined && !/^https?:\/\//.test(String(args['webhook-url']))) {
    throw new UsageError(`Expected --webhook-url to be an http(s) URL, got \`${args['webhook-url']}\`.`);
  }
  if (args['revoke-at'] !== undefined) parseRevokeAt(String(args['revoke-at']), Date.now());
  return {
    host: String(args.host ?? '127.0.0.1'),
    port,
    // The bundled sample migrates against the simulator as it is: its brands resolve by subdomain.
    brands: [...DEFAULT_BRANDS, ...SAMPLE_BRANDS],
    tokenTtlS: tokenTtlMs / 1000,
    limits,
    uniqueExternalId: args['unique-external-id'] !== false,
    idempotencyTtlMs,
    retryAfter: args['retry-after'] !== false,
    ratelimitHeaders: args['ratelimit-headers'] === true,
    seed,
    faults,
    webhookUrl: args['webhook-url'],
    webhookCaFile: args['webhook-ca-file'],
  };
}

/** `30s` (from now) or an RFC 3339 time, to epoch ms. */
export function parseRevokeAt(text: string, nowMs: number): number {
  if (/^\d{4}-\d\d-\d\dT/.test(text)) {
    const at = Date.parse(text);
    if (Number.isNaN(at)) throw new UsageError(`Expected --revoke-at to be a duration (30s) or an RFC 3339 time, got \`${text}\`.`);
    return at;
  }
  return nowMs + parseDuration(text, '--revoke-at');
}
