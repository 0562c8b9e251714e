/**
 * Preloaded (`node --import`) into a benchmark's child process: when
 * BENCH_RUSAGE_FILE is set, writes the process's CPU time and peak RSS there
 * as JSON on exit, so a benchmark can compare CPU per item of two processes,
 * a figure far steadier than rates on a shared, noisy machine.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.env.BENCH_RUSAGE_FILE;
if (file) {
  const started = performance.now();
  process.on('exit', () => {
    const r = process.resourceUsage();
    writeFileSync(
      file,
      JSON.stringify({
        cpuS: (r.userCPUTime + r.systemCPUTime) / 1e6,
        userS: r.userCPUTime / 1e6,
        systemS: r.systemCPUTime / 1e6,
        maxRssMb: r.maxRSS / 1024,
        // The main thread alone (Linux): whether the JavaScript thread was the bottleneck, or waited.
        ...mainThread(performance.now() - started),
      }),
    );
  });
}

function mainThread(wallMs: number): { mainThreadS?: number; mainThreadBusy?: number } {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const s = (Number(fields[11]) + Number(fields[12])) / 100;
    return { mainThreadS: s, mainThreadBusy: s / (wallMs / 1000) };
  } catch {
    return {};
  }
}
