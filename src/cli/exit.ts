/**
 * From an error to what the user sees and the exit code: one line (plus a hint), no stack
 * trace unless -v. The exit-code table lives here, in one switch, and in the docs.
 */
import { CommanderError } from "commander";
import { BlindsyncError, describeError, type ErrorKind } from "../errors.js";
import { escapeControlsKeepLines } from "./output/escape.js";
import { OutputClosed } from "./output/output.js";
import { writeQuietly } from "./output/streams.js";

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

/**
 * True when the command ended because stdout's reader went away (`| head`): an ordinary end,
 * not a failure (see report()).
 */
function endedByGoneReader(error: unknown): boolean {
  for (let seen: unknown = error, depth = 0; depth < 8; depth++) {
    if (seen instanceof OutputClosed) return true;
    if (!(seen instanceof Error)) return false;
    seen = seen.cause;
  }
  return false;
}

/** Writes to stderr, escaped (messages quote names from the repository), never throwing. */
function say(text: string): void {
  writeQuietly(process.stderr, escapeControlsKeepLines(text));
}

export function report(error: unknown, verbose: boolean): number {
  if (error instanceof CommanderError) {
    // Commander has already printed its message (or the help/version text).
    return error.exitCode === 0 ? 0 : 2;
  }
  // A reader that stops reading got what it asked for: exit 0, quietly. Not 141 (128 +
  // SIGPIPE, how git ends): Node ignores SIGPIPE, so nothing killed us; under `set -o
  // pipefail` 141 fails every script that pipes a listing into head; and a backup whose
  // output is gone must still say by its status whether the snapshot was saved.
  if (endedByGoneReader(error)) return 0;
  if (error instanceof BlindsyncError) {
    const hint = error.hint === undefined ? "" : `\n  hint: ${error.hint}`;
    say(`blindsync: ${error.message}${hint}\n`);
    if (verbose && error.stack !== undefined) say(`${error.stack}\n`);
    return exitCodeOf(error.kind);
  }
  say(`blindsync: unexpected error: ${describeError(error)}\n`);
  if (verbose && error instanceof Error && error.stack !== undefined)
    say(`${error.stack}\n`);
  else say("  hint: run with -v for details, and please report it\n");
  return 1;
}
