/**
 * Live progress of a run on stderr: a cli-progress bar on a terminal, a plain
 * line every few seconds otherwise (CI logs, pipes). A subscriber of engine
 * events; it never touches the store or stdout.
 */
import cliProgress from 'cli-progress';
import type { EngineEvent } from '../engine/run.js';

export interface ProgressReporter {
  onEvent(e: EngineEvent): void;
  stop(): void;
}

export function createProgressReporter(opts: { stream?: NodeJS.WriteStream; intervalMs?: number; now?: () => number } = {}): ProgressReporter {
  const stream = opts.stream ?? process.stderr;
  const now = opts.now ?? Date.now;
  const tty = !!stream.isTTY;
  let job = '';
  let total = 0;
  let done = 0;
  let failed = 0;
  let sends = 0;
  let limited = 0;
  let refreshes = 0;
  let jobStarted = now();
  // Sends per second over the last 10 s, as [second, count] buckets: one push or increment per
  // send, at most 11 buckets to trim, whatever the rate (a timestamp per send grew with it).
  const recent: [number, number][] = [];
  let bar: cliProgress.SingleBar | undefined;

  const rate = () => {
    const t = now();
    const from = Math.floor((t - 10_000) / 1000);
    while (recent.length && recent[0]![0] < from) recent.shift();
    const sent = recent.reduce((a, [, n]) => a + n, 0);
    return sent / Math.min(10, Math.max(1, (t - jobStarted) / 1000));
  };
  const eta = () => {
    const r = rate();
    const left = total - done - failed;
    return r > 0 && left > 0 ? `${Math.ceil(left / r)}s` : left > 0 ? '?' : '0s';
  };
  const line = () =>
    `[${job}] ${done}/${total} done, ${failed} failed · ${rate().toFixed(1)} req/s · ${sends} requests, ${limited} × 429, ${refreshes} token refreshes · ETA ${eta()}`;

  const timer = setInterval(() => {
    if (!job) return;
    if (bar) bar.update(done + failed, { rate: rate().toFixed(1), limited, refreshes, failed, eta_text: eta() });
    else stream.write(`${line()}\n`);
  }, opts.intervalMs ?? (tty ? 250 : 2000));
  timer.unref();

  return {
    onEvent(e) {
      switch (e.type) {
        case 'job_start':
          bar?.stop();
          job = e.job;
          total = e.pending;
          done = failed = 0;
          jobStarted = now();
          if (tty) {
            bar = new cliProgress.SingleBar(
              {
                stream,
                format: `${e.job.padEnd(22)} {bar} {value}/{total} · {rate} req/s · {limited} × 429 · {refreshes} refreshes · {failed} failed · ETA {eta_text}`,
                hideCursor: true,
              },
              cliProgress.Presets.shades_classic,
            );
            bar.start(Math.max(total, 1), 0, { rate: '0.0', limited, refreshes, failed: 0, eta_text: '?' });
          }
          break;
        case 'job_end':
          if (bar) {
            bar.update(done + failed);
            bar.stop();
            bar = undefined;
          } else stream.write(`${line()}\n`);
          break;
        case 'item':
          if (e.outcome === 'done') done++;
          else if (e.outcome === 'failed' || e.outcome === 'dead') failed++;
          break;
        case 'send':
          sends++;
          {
            const second = Math.floor(now() / 1000);
            const last = recent[recent.length - 1];
            if (last && last[0] === second) last[1]++;
            else recent.push([second, 1]);
          }
          break;
        case 'rate_limited':
          limited++;
          break;
        case 'token':
          refreshes++;
          break;
        case 'notice':
          if (bar) stream.write('\n');
          stream.write(`note: ${e.message}\n`);
          break;
      }
    },
    stop() {
      clearInterval(timer);
      bar?.stop();
    },
  };
}
