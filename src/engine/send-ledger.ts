/**
 * The durable send log, written in blocks of reserved send slots instead of
 * one autocommitted row per send.
 *
 * The guarantee the log gives (src/engine/migrate.ts restoredGate): every
 * request that left is covered, before it left, by a committed log entry at a
 * time no earlier than its start. A run resumed after kill -9 restores each
 * entry as a send answered at that time (plus a margin), so its limiter holds
 * the slot of every real send at least until start + window.
 *
 * A block keeps that guarantee with one write for many sends: the first send
 * that finds no usable block logs `size` sends at `T = start + horizon`, in
 * the future, in one committed upsert, before its request leaves. Each later
 * send starting at or before T while the block has slots left is already
 * covered (T >= its start) and writes nothing. What a crash can cost:
 *
 * - up to `size - 1` reserved sends that never happened: counted as sends by
 *   the resumed run, so it sends a little less in that window, never more;
 * - each real send counted up to `horizon` ms later than its start: its slot
 *   is held that much longer, again only ever fewer sends.
 *
 * Both are kept small against the quota: `size` is at most 1% of the smallest
 * window's count (so a slow quota logs every send, as before), and `horizon`
 * is 1% of the shortest window, at most 100 ms. A block that expires with
 * slots unused hands them back (logged as -n) when the next one opens, and
 * so does the open block at the end of a run: the log overstates the sends
 * by at most the open block's unused slots, and a clean stop leaves exactly
 * the sends that happened. (At a high rate blocks fill: one write per
 * `size` sends; at a lower one, two writes per horizon at most.)
 */
import type { RateWindow } from '../types.js';

export interface SendLedgerOptions {
  windows: readonly RateWindow[];
  /** Durably logs `count` sends at `atMs` (negative: gives back unused reservations of the block at `atMs`). */
  log(atMs: number, count: number): void;
  /** Overrides the block size (tests). */
  blockSize?: number;
  /** Overrides the horizon in ms (tests). */
  horizonMs?: number;
}

export interface SendLedger {
  /** Call before the request starting at `startedAt` leaves: returns once that send is durably covered. */
  onSend(startedAt: number): void;
  /** Gives back the unused reservations of the open block. */
  close(): void;
  /** Log writes so far (tests, diagnostics). */
  readonly writes: number;
}

export const MAX_SEND_BLOCK = 64;
export const MAX_SEND_HORIZON_MS = 100;

export function sendBlockParams(windows: readonly RateWindow[]): { size: number; horizonMs: number } {
  if (windows.length === 0) return { size: MAX_SEND_BLOCK, horizonMs: MAX_SEND_HORIZON_MS };
  const smallestCount = Math.min(...windows.map((w) => w.count));
  const shortestMs = Math.min(...windows.map((w) => w.windowMs));
  return {
    size: Math.max(1, Math.min(MAX_SEND_BLOCK, Math.floor(smallestCount / 100))),
    horizonMs: Math.max(0, Math.min(MAX_SEND_HORIZON_MS, Math.floor(shortestMs / 100))),
  };
}

export function createSendLedger(opts: SendLedgerOptions): SendLedger {
  const defaults = sendBlockParams(opts.windows);
  const size = Math.max(1, Math.floor(opts.blockSize ?? defaults.size));
  const horizon = Math.max(0, opts.horizonMs ?? defaults.horizonMs);
  /** The open block: its log time and the reserved sends not yet used. */
  let blockAt = Number.NEGATIVE_INFINITY;
  let left = 0;
  let writes = 0;
  return {
    onSend(startedAt) {
      if (left > 0 && startedAt <= blockAt) {
        left--;
        return;
      }
      // The old block is spent or past its horizon: hand its unused reservations back, so the
      // log overstates the sends by at most the open block's (a crash), never by a block per horizon.
      if (left > 0) {
        const n = left;
        left = 0;
        opts.log(blockAt, -n);
        writes++;
      }
      const at = size === 1 ? startedAt : startedAt + horizon;
      opts.log(at, size); // throws if the write fails: the request must not leave then
      writes++;
      blockAt = at;
      left = size - 1;
    },
    close() {
      if (left > 0) {
        const n = left;
        left = 0;
        opts.log(blockAt, -n);
        writes++;
      }
    },
    get writes() {
      return writes;
    },
  };
}
