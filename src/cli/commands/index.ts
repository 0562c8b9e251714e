/**
 * Every command of the CLI. A command is a yargs module whose handler returns
 * the exit code; keep each in its own file and add it here.
 */
import type { CommandSpec } from './command.js';
import { loadCommand } from './load.js';
import { runCommand } from './run.js';
import { demoCommand } from './demo.js';
import { retryCommand } from './retry.js';
import { exportFailedCommand } from './export-failed.js';
import { statusCommand } from './status.js';
import { reportCommand } from './report.js';
import { jobsCommand } from './jobs.js';
import { simCommand } from './sim.js';
import { webhookCommand } from './webhook.js';

export const commands: CommandSpec[] = [demoCommand, loadCommand, runCommand, statusCommand, reportCommand, retryCommand, exportFailedCommand, jobsCommand, simCommand, webhookCommand];
