/**
 * Child process of the store benchmark: the reference issue 3 measures
 * staging against, "a straightforward parse-and-insert loop". One thread
 * reads the file line by line, parses each line, runs the job's parse,
 * validate and key, hashes the line, and inserts one row with its payload,
 * committing every 5,000 rows, into a plain table of its own (WAL,
 * synchronous = NORMAL, as the store). No worker threads, no segments.
 *
 * It stages the same file as `load` so that the two rates, taken one after
 * the other in the same run, give a ratio the machine's noise moves less
 * than either rate.
 *
 * Usage: node dist/test/bench/staging-baseline.js <db> <job> <file>
 * Prints {records, invalid, elapsedMs} as JSON.
 */
import Database from 'better-sqlite3';
import { createReadStream } from 'node:fs';
import { hash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { loadJobs } from '../../src/sources/job-loader.js';

const [dbFile, jobName, file] = process.argv.slice(2);
if (!file) {
  process.stderr.write('Usage: staging-baseline.js <db> <job> <file>\n');
  process.exit(1);
}
const job = (await loadJobs()).find((j) => j.job.name === jobName)?.job;
if (!job) throw new Error(`No bundled job named ${jobName}.`);

const started = performance.now();
const db = new Database(dbFile);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, source_id TEXT NOT NULL UNIQUE, state TEXT NOT NULL, payload TEXT NOT NULL,
  hash TEXT NOT NULL, line INTEGER NOT NULL, reason TEXT)`);
const insert = db.prepare('INSERT INTO items (source_id, state, payload, hash, line, reason) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source_id) DO NOTHING');
const begin = db.prepare('BEGIN');
const commit = db.prepare('COMMIT');

let records = 0;
let invalid = 0;
let line = 0;
begin.run();
for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
  line++;
  if (text.trim() === '') continue;
  let reason: string | null = null;
  let key = `!${line}`;
  try {
    const parsed = job.parse(JSON.parse(text));
    if (!parsed.ok) reason = parsed.reason;
    else {
      reason = job.validate?.(parsed.record) ?? null;
      if (reason === null) key = job.key(parsed.record);
    }
  } catch (err) {
    reason = (err as Error).message;
  }
  if (reason !== null) invalid++;
  insert.run(key, reason === null ? 'pending' : 'invalid', text, hash('sha1', text, 'base64url'), line, reason);
  if (++records % 5000 === 0) {
    commit.run();
    begin.run();
  }
}
commit.run();
db.close();
process.stdout.write(`${JSON.stringify({ records, invalid, elapsedMs: performance.now() - started })}\n`);
