/**
 * Worker thread entry: parses batches for one job (see parse-records.ts). The
 * job module is imported here too; job functions are pure, so a second
 * instance of the module behaves the same as the main thread's.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { JobDefinition } from '../types.js';
import type { ElementsBatch, LinesBatch } from './readers.js';
import { parseBatch, type ParsedBatch } from './parse-records.js';
import { importJobModule, jobsInModule } from './job-module.js';

interface WorkerInit {
  jobFile: string;
  jobName: string;
  file: string | null;
}

const init = workerData as WorkerInit;
const mod = await importJobModule(init.jobFile);
const job: JobDefinition | undefined = jobsInModule(mod).find((j) => j.name === init.jobName);
if (!job) throw new Error(`${init.jobFile} no longer defines the job ${init.jobName}`);

parentPort!.on('message', (msg: { seq: number; batch: LinesBatch | ElementsBatch; file: string | null }) => {
  // The batch bytes arrive transferred, as a Uint8Array; they go back (transferred) with the result.
  const batch = { ...msg.batch, buf: Buffer.from(msg.batch.buf.buffer, msg.batch.buf.byteOffset, msg.batch.buf.byteLength) } as LinesBatch | ElementsBatch;
  let result: ParsedBatch;
  try {
    result = parseBatch(job, batch, msg.file);
  } catch (err) {
    parentPort!.postMessage({ seq: msg.seq, error: String((err as Error).stack ?? err) });
    return;
  }
  parentPort!.postMessage({ seq: msg.seq, result }, [result.buf.buffer as ArrayBuffer, result.nums.buffer as ArrayBuffer]);
});
parentPort!.postMessage({ ready: true });
