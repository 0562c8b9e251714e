/**
 * Turns batches of raw records into what the store stages: source id, payload
 * slice, content hash, or the reason the record is invalid. Pure CPU work, so
 * it runs in worker threads (parse-worker.ts) while the main thread writes to
 * SQLite; the same function runs in-process when workers are not available.
 */
import { hash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { JobDefinition } from '../types.js';
import type { ElementsBatch, LinesBatch } from './readers.js';
import { lineKey } from '../store/index.js';

/**
 * What a parser thread hands back, shaped to cross the thread boundary cheaply
 * (a few transferred buffers and flat strings, not thousands of small objects):
 * the main thread, which does all the SQLite work, should spend nothing on it.
 */
export interface ParsedBatch {
  n: number;
  /** The batch bytes, handed back (transferred) with the result: payloads are slices of it. */
  buf: Uint8Array;
  /** Per record, 4 integers: start and end byte of the record in `buf`, its line, and its element index (-1 for an NDJSON line). */
  nums: Int32Array;
  sourceIds: string[];
  /** The content hashes, HASH_CHARS characters each, concatenated. */
  hashes: string;
  /** Why records are invalid: [record number, reason] pairs (most batches have none). */
  reasons: [number, string][];
  /** The record JSON when the job's parse returned a new object (not the raw one): [record number, json] pairs. */
  json: [number, string][];
}

/** Length of a content hash: SHA-1 in base64url (stores hold these; change it and every record reads as changed). */
export const HASH_CHARS = 27;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x0d || c === 0x09 || c === 0x0a;
}

function oneLine(message: string): string {
  return message.replace(/\s+/g, ' ').slice(0, 300);
}

export function parseBatch(job: JobDefinition, batch: LinesBatch | ElementsBatch, file: string | null): ParsedBatch {
  const buf = batch.buf;
  let nums = new Int32Array(batch.kind === 'lines' ? 1024 : batch.meta.length);
  const sourceIds: string[] = [];
  const hashes: string[] = [];
  const reasons: [number, string][] = [];
  const jsons: [number, string][] = [];
  let n = 0;
  const add = (start: number, end: number, line: number, index: number) => {
    while (start < end && isBlank(buf[start]!)) start++;
    while (end > start && isBlank(buf[end - 1]!)) end--;
    if (start === end) return; // a blank line
    const bytes = buf.subarray(start, end);
    let reason: string | null = null;
    let sourceId: string | null = null;
    let json: string | null = null;
    let raw: unknown;
    if (!isUtf8(bytes)) {
      reason = 'the record is not valid UTF-8; re-export the file as UTF-8';
    } else {
      try {
        raw = JSON.parse(bytes.toString('utf8'));
      } catch (err) {
        reason = `not valid JSON (${oneLine((err as Error).message)})`;
      }
      if (reason === null) {
        if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
          reason = `expected a JSON object, got ${describe(raw)}`;
        } else {
          const id = (raw as { id?: unknown }).id;
          if (Number.isSafeInteger(id)) sourceId = String(id);
          try {
            const parsed = job.parse(raw);
            if (!parsed.ok) reason = parsed.reason;
            else {
              reason = job.validate?.(parsed.record) ?? null;
              if (reason === null) {
                const key = job.key(parsed.record);
                if (typeof key !== 'string' || key === '') reason = `the job's key() gave ${JSON.stringify(key)}, not a non-empty string`;
                else {
                  sourceId = key;
                  if (parsed.record !== raw) json = JSON.stringify(parsed.record);
                }
              }
            }
          } catch (err) {
            reason = `the job ${job.name} threw while parsing: ${oneLine((err as Error).message)}`;
          }
        }
      }
    }
    sourceIds.push(reason === null || sourceId === null ? (sourceId ?? lineKey(file, line, index < 0 ? undefined : index)) : sourceId);
    hashes.push(json === null ? hash('sha1', bytes, 'base64url') : hash('sha1', json, 'base64url'));
    if (reason !== null) reasons.push([n, reason]);
    if (json !== null) jsons.push([n, json]);
    if (nums.length < (n + 1) * 4) {
      const grown = new Int32Array(nums.length * 2);
      grown.set(nums);
      nums = grown;
    }
    nums[n * 4] = start;
    nums[n * 4 + 1] = end;
    nums[n * 4 + 2] = line;
    nums[n * 4 + 3] = index;
    n++;
  };
  if (batch.kind === 'lines') {
    let line = batch.firstLine;
    let start = 0;
    for (let nl = buf.indexOf(0x0a); ; nl = buf.indexOf(0x0a, start)) {
      const end = nl < 0 ? buf.length : nl;
      add(start, end, line, -1);
      if (nl < 0) break;
      start = nl + 1;
      line++;
      if (start >= buf.length) break;
    }
  } else {
    const m = batch.meta;
    for (let i = 0; i < m.length; i += 4) add(m[i]!, m[i + 1]!, m[i + 2]!, m[i + 3]!);
  }
  return { n, buf, nums: nums.subarray(0, n * 4), sourceIds, hashes: hashes.join(''), reasons, json: jsons };
}
