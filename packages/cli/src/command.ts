import { parseArgs, type ParseArgsConfig } from "node:util";

/** One `cocore` subcommand. `run` returns the process exit code. */
export interface Command {
  summary: string;
  help: string;
  run(args: string[]): Promise<number>;
}

/** An expected failure: printed as one line, never as a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

/** node:util parseArgs with errors turned into CliErrors (exit 2) that name the problem. */
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
}

/** Print a JSON document on stdout (the `--json` contract: one document, logs go to stderr). */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}
