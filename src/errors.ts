/**
 * The one domain error of blindsync. Every layer throws it for conditions a user can act on;
 * built-in TypeError/RangeError stay for programming mistakes. Only src/cli/main.ts maps
 * `kind` to an exit code (the table is in README.md and docs/design.md).
 *
 * Shared leaf: imports nothing from any layer.
 */

export type ErrorKind =
  /** The command line is wrong (exit 2). */
  | "usage"
  /** No repository at the given location (exit 10). */
  | "no-repository"
  /** A named thing (snapshot, path, blob) does not exist (exit 1). */
  | "not-found"
  /** The repository is locked by another process (exit 11). */
  | "locked"
  /** No key slot opens with this passphrase (exit 12). */
  | "wrong-passphrase"
  /** Stored data failed authentication or verification (exit 13). */
  | "integrity"
  /** The repository is older than one this client has seen, or is another repository (exit 14). */
  | "rollback"
  /** The work finished but some inputs were skipped with a warning (exit 3). */
  | "partial"
  /** The server refused a delete or overwrite because it is append-only (exit 1). */
  | "append-only"
  /** The peer broke the wire protocol (exit 1). */
  | "protocol"
  /** A transport or I/O failure that may pass if retried (exit 1). */
  | "transient"
  /** Anything else the user should read about (exit 1). */
  | "failed";

export interface BlindsyncErrorOptions {
  /** What the user could try, printed after the message. */
  readonly hint?: string;
  readonly cause?: unknown;
}

export class BlindsyncError extends Error {
  override readonly name = "BlindsyncError";
  readonly kind: ErrorKind;
  readonly hint: string | undefined;

  constructor(
    kind: ErrorKind,
    message: string,
    options: BlindsyncErrorOptions = {},
  ) {
    super(
      message,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.kind = kind;
    this.hint = options.hint;
  }
}

export function isBlindsyncError(
  error: unknown,
  kind?: ErrorKind,
): error is BlindsyncError {
  return (
    error instanceof BlindsyncError &&
    (kind === undefined || error.kind === kind)
  );
}

/** A short, single-line description of any thrown value, for wrapping into a BlindsyncError. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
