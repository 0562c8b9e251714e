import type { Argv } from 'yargs';

/** A CLI command: yargs wiring plus a handler that returns the process exit code. */
export interface CommandSpec {
  command: string;
  describe: string;
  builder?: (y: Argv) => Argv<any>;
  handler: (args: any) => Promise<number>;
}
