/**
 * Parsing of durations (`30s`, `250ms`, `2m`, `1h`) and quota windows
 * (`600/60s`), shared by the runner's flags and the simulator's.
 */
import { UsageError } from './errors.js';
import type { RateWindow } from './types.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `30s` -> 30000. A bare number is seconds. Throws UsageError naming `what`. */
export function parseDuration(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(String(text));
  if (!m) {
    throw new UsageError(`Expected ${what} to be a duration like 30s, 250ms, 2m or 1h, got \`${text}\`.`);
  }
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!);
}

/** `600/60s` -> { count: 600, windowMs: 60000 }. */
export function parseWindow(text: string, what = '--limit'): RateWindow {
  const m = /^\s*(\d+)\s*\/\s*(.+)$/.exec(String(text));
  if (!m) {
    throw new UsageError(`Expected ${what} to look like N/WINDOW (600/60s, 150/10s, 10/1s), got \`${text}\`.`);
  }
  const count = Number(m[1]);
  const windowMs = parseDuration(m[2]!, `the window of ${what} \`${text}\``);
  if (count < 1 || windowMs < 1) {
    throw new UsageError(`Expected ${what} to allow at least 1 request in a window longer than 0, got \`${text}\`.`);
  }
  return { count, windowMs };
}

export function formatWindow(w: RateWindow): string {
  return w.windowMs % 1000 === 0 ? `${w.count}/${w.windowMs / 1000}s` : `${w.count}/${w.windowMs}ms`;
}
