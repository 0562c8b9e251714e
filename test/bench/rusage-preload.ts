/**
 * Preloaded (`node --import`) into a benchmark's child process: when
 * BENCH_RUSAGE_FILE is set, writes the process's CPU time and peak RSS there
 * as JSON on exit, so a benchmark can compare CPU per item of two processes,
 * a figure far steadier than rates on a shared, noisy machine.
 */
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_RUSAGE_FILE;
if (file) {
  process.on('exit', () => {
    const r = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ cpuS: (r.userCPUTime + r.systemCPUTime) / 1e6, userS: r.userCPUTime / 1e6, systemS: r.systemCPUTime / 1e6, maxRssMb: r.maxRSS / 1024 }));
  });
}
