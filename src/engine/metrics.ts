/**
 * Per-second counters of a run, fed by sender events and item outcomes, and
 * handed to the store with each batch of outcomes. Also keeps the run's
 * totals for the summary, so the summary never re-reads the store.
 */
import { bucketOf, emptyHistogram, percentile, type MetricsRow, type ResponseCounts } from '../store/index.js';

export function responseClass(status: number | undefined): keyof ResponseCounts {
  if (status === undefined) return 'network';
  if (status === 429) return '429';
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  return '2xx';
}

export function emptyResponses(): ResponseCounts {
  return { '2xx': 0, '4xx': 0, '429': 0, '5xx': 0, network: 0 };
}

export interface RunMetrics {
  send(at: number): void;
  response(at: number, status: number | undefined, latencyMs?: number): void;
  itemDone(at: number): void;
  /** The rows gathered since the last drain (each second once; the store adds repeats up). */
  drain(): MetricsRow[];
  totals(): { requests: number; responses: ResponseCounts; itemsDone: number; latency: { p50: number; p95: number; p99: number } };
}

export function createRunMetrics(runId: string): RunMetrics {
  const rows = new Map<number, MetricsRow>();
  const total = { requests: 0, responses: emptyResponses(), itemsDone: 0, histogram: emptyHistogram() };
  const row = (at: number): MetricsRow => {
    const second = Math.floor(at / 1000);
    let r = rows.get(second);
    if (!r) {
      r = { runId, second, sends: 0, responses: emptyResponses(), itemsDone: 0, latency: emptyHistogram() };
      rows.set(second, r);
    }
    return r;
  };
  return {
    send(at) {
      row(at).sends++;
      total.requests++;
    },
    response(at, status, latencyMs) {
      const r = row(at);
      const cls = responseClass(status);
      r.responses[cls]++;
      total.responses[cls]++;
      if (latencyMs !== undefined) {
        const b = bucketOf(latencyMs);
        r.latency[b]!++;
        total.histogram[b]!++;
      }
    },
    itemDone(at) {
      row(at).itemsDone++;
      total.itemsDone++;
    },
    drain() {
      const out = [...rows.values()];
      rows.clear();
      return out;
    },
    totals: () => ({
      requests: total.requests,
      responses: { ...total.responses },
      itemsDone: total.itemsDone,
      latency: { p50: percentile(total.histogram, 50), p95: percentile(total.histogram, 95), p99: percentile(total.histogram, 99) },
    }),
  };
}
