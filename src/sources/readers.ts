/**
 * Streaming readers of export files. Each file is read in chunks (constant
 * memory whatever its size), gunzipped when it starts with the gzip magic
 * bytes, stripped of a UTF-8 BOM, and cut into batches of whole records for
 * the parser: NDJSON (Zendesk's full export: one object per line), a JSON
 * array, or an API page (`{"tickets": [...], "next_page": ..., "end_of_stream": ...}`).
 */
import { createReadStream, openSync, readSync, closeSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { ElementSplitter, type SplitElement } from './json-splitter.js';
import { UsageError } from '../errors.js';

export type ExportFormat = 'ndjson' | 'array' | 'page';

/** Whole lines of an NDJSON file (the last one may lack its newline at end of file). */
export interface LinesBatch {
  kind: 'lines';
  buf: Buffer;
  /** Line number of the first line in `buf`. */
  firstLine: number;
}

/** Elements of a JSON array or API page, packed into one buffer. */
export interface ElementsBatch {
  kind: 'elements';
  buf: Buffer;
  /** start, end, line, index for each element. */
  meta: number[];
}

/** Something wrong with the file as a whole (truncated array, no page array). */
export interface FileProblem {
  kind: 'problem';
  line: number;
  reason: string;
}

export type ReadBatch = LinesBatch | ElementsBatch | FileProblem;

/**
 * Bytes per batch handed to a parser thread, and per read: small enough that
 * the few batches in flight (see stage.ts) stay a few MB, large enough that
 * messages between threads are rare (~200 records of 1.3 KB per batch).
 */
export const BATCH_BYTES = 256 * 1024;
const GZIP_MAGIC = [0x1f, 0x8b];

function isGzip(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  } finally {
    closeSync(fd);
  }
}

function openStream(file: string): Readable {
  const raw = createReadStream(file, { highWaterMark: BATCH_BYTES });
  if (!isGzip(file)) return raw;
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  raw.on('error', (err) => gunzip.destroy(err));
  return raw.pipe(gunzip);
}

/** Pull-based chunks with look-ahead, for format detection. */
class Chunks {
  readonly #it: AsyncIterator<Buffer>;
  readonly #ahead: Buffer[] = [];
  constructor(stream: Readable) {
    this.#it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }
  async next(): Promise<Buffer | null> {
    if (this.#ahead.length) return this.#ahead.shift()!;
    const r = await this.#it.next();
    return r.done ? null : r.value;
  }
  unshift(...chunks: Buffer[]): void {
    this.#ahead.unshift(...chunks);
  }
  async close(): Promise<void> {
    await this.#it.return?.();
  }
}

function firstNonSpace(buf: Buffer, from = 0): number {
  for (let i = from; i < buf.length; i++) {
    const c = buf[i]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
  }
  return -1;
}

/** Is the first line one complete JSON value (brackets balanced at its end)? */
function firstLineBalanced(buf: Buffer, from: number, lineEnd: number): boolean {
  let depth = 0;
  let inStr = false;
  let esc = false;
  for (let i = from; i < lineEnd; i++) {
    const c = buf[i]!;
    if (inStr) {
      if (esc) esc = false;
      else if (c === 0x5c) esc = true;
      else if (c === 0x22) inStr = false;
    } else if (c === 0x22) inStr = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return depth === 0 && !inStr;
}

/**
 * Decides the format from the first line: `[` starts an array unless that
 * line is complete and more lines follow (NDJSON whose first record is
 * wrong); `{` starts a page when the line is not one complete object or is one
 * with a `<key>` array, a `next_page` or an `end_of_stream`; anything else is
 * NDJSON (its lines fail one by one).
 */
async function detect(chunks: Chunks, pageKey: string): Promise<ExportFormat> {
  const seen: Buffer[] = [];
  let buf: Buffer = Buffer.alloc(0);
  let lineEnd = -1;
  for (;;) {
    lineEnd = buf.indexOf(0x0a);
    if (lineEnd >= 0) break;
    const c = await chunks.next();
    if (c === null) break;
    seen.push(c);
    buf = seen.length === 1 ? c : Buffer.concat([buf, c]);
  }
  if (lineEnd < 0) lineEnd = buf.length;
  const bom = buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  // The first line may be blank: look at the first non-blank byte, wherever it is.
  let start = firstNonSpace(buf, bom);
  while (start < 0) {
    const c = await chunks.next();
    if (c === null) break;
    seen.push(c);
    buf = Buffer.concat([buf, c]);
    start = firstNonSpace(buf, bom);
  }
  let format: ExportFormat = 'ndjson';
  if (start >= 0) {
    let end = buf.indexOf(0x0a, start);
    while (end < 0) {
      const c = await chunks.next();
      if (c === null) break;
      seen.push(c);
      buf = Buffer.concat([buf, c]);
      end = buf.indexOf(0x0a, start);
    }
    if (end < 0) end = buf.length;
    const head = buf[start];
    const balanced = firstLineBalanced(buf, start, end);
    if (head === 0x5b) {
      let more = firstNonSpace(buf, end);
      while (balanced && more < 0) {
        const c = await chunks.next();
        if (c === null) break;
        seen.push(c);
        buf = Buffer.concat([buf, c]);
        more = firstNonSpace(buf, end);
      }
      format = balanced && more >= 0 ? 'ndjson' : 'array';
    } else if (head === 0x7b) {
      if (!balanced) format = 'page';
      else {
        try {
          const obj = JSON.parse(buf.subarray(start, end).toString('utf8')) as Record<string, unknown>;
          // A page of another resource (users given to the tickets job) is a page too, said to lack the job's
          // array, rather than one record that lacks an id.
          if (Array.isArray(obj[pageKey]) || 'next_page' in obj || 'end_of_stream' in obj) format = 'page';
        } catch {
          // a broken first line of an NDJSON file: it becomes an invalid item
        }
      }
    }
  }
  chunks.unshift(...seen);
  return format;
}

/**
 * Reads one export file as batches of whole records. `pageKey` is the array
 * key of API pages for the job (`tickets`, `users`, `organizations`).
 */
export async function* readBatches(file: string, pageKey: string, onFormat?: (f: ExportFormat) => void): AsyncGenerator<ReadBatch> {
  let stream: Readable;
  try {
    stream = openStream(file);
  } catch (err) {
    throw new UsageError(`Cannot read the export file ${file}: ${(err as Error).message}. Check the path.`, { cause: err });
  }
  const chunks = new Chunks(stream);
  try {
    const format = await detect(chunks, pageKey);
    onFormat?.(format);
    if (format === 'ndjson') yield* ndjsonBatches(chunks);
    else yield* elementBatches(chunks, format, pageKey);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') {
      throw new UsageError(`Cannot read the export file ${file}: ${(err as Error).message}${code?.startsWith('Z_') ? ' (a damaged or truncated .gz file?)' : ''}. Check the file.`, { cause: err });
    }
    throw err;
  } finally {
    await chunks.close();
  }
}

async function* ndjsonBatches(chunks: Chunks): AsyncGenerator<LinesBatch> {
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let line = 1;
  let first = true;
  for (let c = await chunks.next(); c !== null; c = await chunks.next()) {
    if (first) {
      first = false;
      if (c[0] === 0xef && c[1] === 0xbb && c[2] === 0xbf) c = c.subarray(3);
    }
    carry.push(c);
    carryBytes += c.length;
    // Cut only when this chunk ends a line, so a very long line is joined once, not once per chunk.
    if (carryBytes < BATCH_BYTES || c.lastIndexOf(0x0a) < 0) continue;
    const joined = carry.length === 1 ? carry[0]! : Buffer.concat(carry, carryBytes);
    const cut = joined.lastIndexOf(0x0a);
    const buf = joined.subarray(0, cut + 1);
    carry = cut + 1 < joined.length ? [joined.subarray(cut + 1)] : [];
    carryBytes = joined.length - cut - 1;
    yield { kind: 'lines', buf, firstLine: line };
    line += countLines(buf);
  }
  if (carryBytes > 0) yield { kind: 'lines', buf: Buffer.concat(carry, carryBytes), firstLine: line };
}

function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}

async function* elementBatches(chunks: Chunks, format: 'array' | 'page', pageKey: string): AsyncGenerator<ElementsBatch | FileProblem> {
  const splitter = new ElementSplitter(format, pageKey);
  let out: SplitElement[] = [];
  let bytes = 0;
  let first = true;
  const flush = (): ElementsBatch => {
    const buf = Buffer.allocUnsafe(bytes);
    const meta: number[] = [];
    let at = 0;
    for (const e of out) {
      e.bytes.copy(buf, at);
      meta.push(at, at + e.bytes.length, e.line, e.index);
      at += e.bytes.length;
    }
    out = [];
    bytes = 0;
    return { kind: 'elements', buf, meta };
  };
  for (let c = await chunks.next(); c !== null; c = await chunks.next()) {
    if (first) {
      first = false;
      if (c[0] === 0xef && c[1] === 0xbb && c[2] === 0xbf) c = c.subarray(3);
    }
    const before = out.length;
    splitter.push(c, out);
    for (let i = before; i < out.length; i++) bytes += out[i]!.bytes.length;
    if (bytes >= BATCH_BYTES) yield flush();
  }
  const problem = splitter.end(out);
  bytes = out.reduce((a, e) => a + e.bytes.length, 0);
  if (out.length) yield flush();
  if (problem) yield { kind: 'problem', line: splitter.line, reason: problem };
}
