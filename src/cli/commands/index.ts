/**
 * Every command of the CLI. A command is a yargs module whose handler returns
 * the exit code; keep each in its own file and add it here.
 */
import type { CommandSpec } from './command.js';
import { simCommand } from './sim.js';
import { webhookCommand } from './webhook.js';

export const commands: CommandSpec[] = [simCommand, webhookCommand];
