/**
 * Child process of the store benchmark: stages one file as `nexus-backfill
 * load` does and prints {records, elapsedMs, maxRssMb} as JSON, so the peak
 * RSS measured is that of a load alone (parser threads included).
 * Usage: node dist/test/bench/store-load-child.js <db> <job> <file>
 */
import { loadFiles } from '../../src/cli/commands/load.js';

const [db, job, file] = process.argv.slice(2);
const started = performance.now();
const cpu0 = process.cpuUsage();
const report = await loadFiles({ db: db!, job: job!, files: [file!] });
const elapsedMs = performance.now() - started;
const cpu = process.cpuUsage(cpu0);
const records = report.files[0]!.records;
// CPU per record (all threads): on a shared machine the rate follows the CPU we get; this does not.
const cpuUsPerRecord = Number(((cpu.user + cpu.system) / records).toFixed(1));
process.stdout.write(`${JSON.stringify({ records, counts: report.counts, elapsedMs, cpuUsPerRecord, maxRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
