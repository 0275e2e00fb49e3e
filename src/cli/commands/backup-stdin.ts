/**
 * `backup --stdin [--stdin-filename NAME] REPO`: what the flags may be combined with, checked
 * before anything connects, and the stream handed to the engine.
 */
import { BlindsyncError } from "../../errors.js";
import {
  checkStdinName,
  DEFAULT_STDIN_NAME,
  type StdinSource,
} from "../../engine/index.js";

export interface StdinFlags {
  /** Back up standard input (or `stdinInput`) as one file instead of sources. */
  readonly stdin?: boolean;
  /** The file name the stream is stored under (default "stdin"). */
  readonly stdinFilename?: string;
  /** The stream read with --stdin; process.stdin when absent (tests pass their own). */
  readonly stdinInput?: AsyncIterable<Uint8Array> & {
    readonly isTTY?: boolean;
  };
}

const EXAMPLE =
  "pg_dump mydb | blindsync backup --stdin --stdin-filename mydb.sql REPO";

/**
 * The stream to back up, or undefined without --stdin. Usage errors: a file name without
 * --stdin, sources beside it, a name that is not one file name, or a terminal as the input
 * (a backup would wait for typing that nobody meant to do).
 */
export function stdinSource(
  flags: StdinFlags,
  sources: readonly string[],
): StdinSource | undefined {
  if (flags.stdin !== true) {
    if (flags.stdinFilename !== undefined)
      throw new BlindsyncError("usage", "--stdin-filename needs --stdin", {
        hint: EXAMPLE,
      });
    return undefined;
  }
  if (sources.length > 0)
    throw new BlindsyncError(
      "usage",
      "--stdin takes no sources beside it: the stream is the snapshot's one file",
      { hint: `Back the sources up separately; ${EXAMPLE}` },
    );
  const name = flags.stdinFilename ?? DEFAULT_STDIN_NAME;
  checkStdinName(name);
  const input = flags.stdinInput ?? process.stdin;
  if (input.isTTY === true)
    throw new BlindsyncError(
      "usage",
      "--stdin reads a pipe or a file, and standard input is a terminal",
      { hint: EXAMPLE },
    );
  return { name, input };
}
