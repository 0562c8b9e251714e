/**
 * `nexus-backfill webhook verify`: checks a delivery's X-Nexuscore-Signature
 * against the raw body on stdin, for shell receivers and for debugging a
 * receiver that rejects deliveries. Exit 0 valid, 1 not (reason on stderr).
 */
import type { Argv } from 'yargs';
import { UsageError } from '../../errors.js';
import { DEFAULT_TOLERANCE_SECONDS, verifyWebhookSignature } from '../../webhook/index.js';
import type { CommandSpec } from './command.js';

export const webhookCommand: CommandSpec = {
  command: 'webhook <action>',
  describe: 'Verify the signature of a NexusCore webhook delivery (webhook verify)',
  builder: (y: Argv) =>
    y
      .usage(
        '$0 webhook verify --signature HEADER [--tolerance 300] < raw-body\n\n' +
          'Reads the raw request body on stdin (the exact bytes received: re-serialized JSON will not match)\n' +
          'and checks the X-Nexuscore-Signature header value, t=<unix s>,v1=<hex HMAC-SHA256>, against the\n' +
          'secret in NEXUSCORE_WEBHOOK_SECRET. While rotating, give several secrets separated by commas:\n' +
          'any one matching any v1= entry is enough. Exit 0 when valid, 1 when not, with the reason on\n' +
          'stderr (or {"valid": false, "reason"} on stdout with --json).',
      )
      .positional('action', { choices: ['verify'] as const, describe: 'What to do (verify)' })
      .option('signature', { type: 'string', demandOption: true, describe: 'The X-Nexuscore-Signature header value' })
      .option('tolerance', {
        type: 'number',
        default: DEFAULT_TOLERANCE_SECONDS,
        describe: 'Largest accepted distance between t= and this clock, in seconds',
      })
      .example("NEXUSCORE_WEBHOOK_SECRET=whsec_... $0 webhook verify --signature 't=1717000000,v1=5f2c...' < body.json", ''),
  handler: async (args: Record<string, any>) => {
    const secrets = (process.env.NEXUSCORE_WEBHOOK_SECRET ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (secrets.length === 0) {
      throw new UsageError('NEXUSCORE_WEBHOOK_SECRET is not set: export the webhook secret (several separated by commas while rotating).');
    }
    const tolerance = Number(args.tolerance);
    if (!Number.isFinite(tolerance) || tolerance < 0) throw new UsageError(`Expected --tolerance to be seconds >= 0, got \`${args.tolerance}\`.`);
    const body = await readStdin();
    const result = verifyWebhookSignature(body, String(args.signature), secrets, { toleranceSeconds: tolerance });
    if (args.json) {
      process.stdout.write(`${JSON.stringify(result.ok ? { valid: true, timestamp: result.timestamp } : { valid: false, reason: result.reason })}\n`);
    }
    if (result.ok) {
      if (!args.json) process.stderr.write(`valid: signed at ${new Date(result.timestamp * 1000).toISOString()}\n`);
      return 0;
    }
    process.stderr.write(`invalid: ${result.reason}\n`);
    return 1;
  },
};

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
