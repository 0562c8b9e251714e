/**
 * The send log in blocks of reserved slots (src/engine/send-ledger.ts): every
 * send is covered, before it leaves, by a committed entry no earlier than its
 * start, with far fewer writes than sends; a clean close gives unused
 * reservations back; a crash leaves only extra (conservative) sends.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createSendLedger, sendBlockParams } from '../../src/engine/send-ledger.js';
import { openStore, type Store } from '../../src/store/index.js';

let dir: string;
let file: string;
const opened: Store[] = [];
const open = (): Store => {
  const s = openStore(file, { mode: 'writer', command: 'test' });
  opened.push(s);
  return s;
};

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'nb-ledger-'));
  file = path.join(dir, 'store.sqlite');
});
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every send start must be covered by a distinct logged send at or after it. */
function expectCovered(logged: readonly number[], starts: readonly number[]): void {
  const free = [...logged].sort((a, b) => a - b);
  // Greedy: the latest start takes the latest entry; each start needs an entry >= it.
  for (const s of [...starts].sort((a, b) => b - a)) {
    const t = free.pop();
    expect(t, `send at ${s} has no log entry`).toBeDefined();
    expect(t!).toBeGreaterThanOrEqual(s);
  }
}

describe('send ledger', () => {
  it('sizes blocks at 1% of the smallest window count (at most 64) and horizons at 1% of the shortest window (at most 100 ms)', () => {
    expect(sendBlockParams([{ count: 1_000_000, windowMs: 1000 }])).toEqual({ size: 64, horizonMs: 10 });
    expect(sendBlockParams([{ count: 700, windowMs: 10_000 }, { count: 2500, windowMs: 60_000 }])).toEqual({ size: 7, horizonMs: 100 });
    // A small quota logs every send, at its start, as before.
    expect(sendBlockParams([{ count: 50, windowMs: 10_000 }]).size).toBe(1);
  });

  it('covers every send with a committed entry no earlier than its start, with far fewer writes, and survives a crash', () => {
    const s = open();
    const calls: [number, number][] = [];
    const ledger = createSendLedger({
      windows: [{ count: 1_000_000, windowMs: 1000 }],
      log: (at, n) => {
        calls.push([at, n]);
        s.recordSend(at, n);
      },
    });
    const starts: number[] = [];
    // 1000 sends, 3 per ms, with one idle gap longer than the horizon.
    for (let i = 0; i < 1000; i++) {
      const at = 10_000 + Math.floor(i / 3) + (i >= 500 ? 5_000 : 0);
      ledger.onSend(at);
      starts.push(at);
      // Durable before the request leaves: already in the store.
      expect(s.recentSends(0).length).toBeGreaterThanOrEqual(i + 1);
    }
    expect(ledger.writes).toBeLessThan(1000 / 10);
    // kill -9 here (no close): another connection sees every send covered, plus at most one block of extra sends.
    const reader = openStore(file, { mode: 'reader', command: 'test' });
    opened.push(reader);
    const logged = reader.recentSends(0);
    expectCovered(logged, starts);
    expect(logged.length - starts.length).toBeLessThan(64);
    expect(Math.max(...logged.map((t, i) => t - (starts[i] ?? t)))).toBeLessThanOrEqual(10);
  });

  it('gives back the unused reservations of the open block on close, leaving exactly the sends made', () => {
    const s = open();
    const ledger = createSendLedger({ windows: [], blockSize: 10, horizonMs: 50, log: (at, n) => s.recordSend(at, n) });
    for (const at of [100, 101, 102, 200, 201]) ledger.onSend(at);
    // Block at 150 (3 used of 10, 7 handed back when the next opened), block at 250 (2 used of 10).
    expect(s.recentSends(0)).toHaveLength(13);
    ledger.close();
    expect(s.recentSends(0)).toEqual([150, 150, 150, 250, 250]);
    expectCovered(s.recentSends(0), [100, 101, 102, 200, 201]);
    // A later send in the same millisecond as a given-back block still counts.
    s.recordSend(250);
    expect(s.recentSends(0)).toEqual([150, 150, 150, 250, 250, 250]);
  });

  it('a block that is full or past its horizon starts a new one; a failed write throws before the send', () => {
    const log: [number, number][] = [];
    let fail = false;
    const ledger = createSendLedger({
      windows: [],
      blockSize: 2,
      horizonMs: 5,
      log: (at, n) => {
        if (fail) throw new Error('disk full');
        log.push([at, n]);
      },
    });
    ledger.onSend(0);
    ledger.onSend(1); // same block
    ledger.onSend(2); // full: new block
    ledger.onSend(20); // past the horizon: new block
    expect(log).toEqual([
      [5, 2],
      [7, 2],
      [7, -1],
      [25, 2],
    ]);
    fail = true;
    ledger.onSend(21); // one slot left in the block at 25: no write
    expect(() => ledger.onSend(22)).toThrow('disk full');
  });
});
