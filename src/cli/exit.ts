/**
 * From an error to what the user sees and the exit code: one line (plus a hint), no stack
 * trace unless -v. The exit-code table lives here, in one switch, and in the docs.
 */
import { CommanderError } from "commander";
import { BlindsyncError, describeError, type ErrorKind } from "../errors.js";

/** The exit code table of README.md and docs/design.md. */
export function exitCodeOf(kind: ErrorKind): number {
  switch (kind) {
    case "usage":
      return 2;
    case "partial":
      return 3;
    case "no-repository":
      return 10;
    case "locked":
      return 11;
    case "wrong-passphrase":
      return 12;
    case "integrity":
      return 13;
    case "rollback":
      return 14;
    case "not-found":
    case "append-only":
    case "protocol":
    case "transient":
    case "failed":
      return 1;
  }
}

export function report(error: unknown, verbose: boolean): number {
  if (error instanceof CommanderError) {
    // Commander has already printed its message (or the help/version text).
    return error.exitCode === 0 ? 0 : 2;
  }
  if (error instanceof BlindsyncError) {
    const hint = error.hint === undefined ? "" : `\n  hint: ${error.hint}`;
    process.stderr.write(`blindsync: ${error.message}${hint}\n`);
    if (verbose && error.stack !== undefined)
      process.stderr.write(`${error.stack}\n`);
    return exitCodeOf(error.kind);
  }
  process.stderr.write(
    `blindsync: unexpected error: ${describeError(error)}\n`,
  );
  if (verbose && error instanceof Error && error.stack !== undefined)
    process.stderr.write(`${error.stack}\n`);
  else
    process.stderr.write(
      "  hint: run with -v for details, and please report it\n",
    );
  return 1;
}
