/** One figure a benchmark measured, printed beside its goal. */
export interface BenchFigure {
  suite: string;
  name: string;
  value: number;
  unit: string;
  /** The goal as text (`>= 0.99`), and whether the value meets it. */
  goal?: string;
  met?: boolean;
  /** Anything else worth keeping in the JSON results. */
  details?: Record<string, unknown>;
}

export interface BenchOptions {
  quick: boolean;
  /** Where a suite may put scratch files; removed afterwards. */
  tmpDir: string;
  log: (line: string) => void;
}

export type BenchSuite = (opts: BenchOptions) => Promise<BenchFigure[]>;
