/**
 * What happens when nobody reads our output any more. Node ignores SIGPIPE, so a write into a
 * pipe whose reader has exited (`blindsync ls REPO | head -2`) fails with EPIPE, reported as an
 * 'error' event that, unhandled, kills the process with a stack trace in the middle of
 * whatever it was doing. Here every stream we print to gets one listener that records the
 * reader as gone, and the printers stop writing to it. What the command does next is the
 * command's choice (output.ts: a backup carries on and saves its snapshot, a listing ends).
 * Any other write error (a full disk under `> file`) is recorded as a failure to report.
 */

/** The part of a writable stream the printers use (process.stdout, or a test's stand-in). */
export interface Stream {
  write(
    chunk: string | Uint8Array,
    callback?: (error?: Error | null) => void,
  ): boolean;
  readonly isTTY?: boolean;
  /** Node's Writable: the error a write failed with, set as the write fails. */
  readonly errored?: Error | null;
  on?(event: "error", listener: (error: Error) => void): unknown;
}

export interface StreamState {
  /** The reader closed its end: nothing written from now on is read. */
  gone: boolean;
  /** A write failed for another reason than a gone reader. */
  failure: Error | undefined;
}

/** Error codes that mean the reading end was closed, not that something broke. */
const READER_GONE = new Set(["EPIPE", "ECONNRESET", "ERR_STREAM_DESTROYED"]);

export function isReaderGoneError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && READER_GONE.has(code);
}

const states = new WeakMap<Stream, StreamState>();

/** Records a failed write on the stream's state. */
export function noteWriteError(state: StreamState, error: Error): void {
  if (isReaderGoneError(error)) state.gone = true;
  else state.failure ??= error;
}

/**
 * The state of `stream`, listening for its errors from the first call on (idempotent: every
 * printer of a stream shares one state and one listener).
 */
export function watchStream(stream: Stream): StreamState {
  let state = states.get(stream);
  if (state === undefined) {
    const created: StreamState = { gone: false, failure: undefined };
    stream.on?.("error", (error) => {
      noteWriteError(created, error);
    });
    states.set(stream, created);
    state = created;
  }
  // A failed write sets `errored` at once; the 'error' event follows a tick later.
  const errored = stream.errored;
  if (errored !== null && errored !== undefined) noteWriteError(state, errored);
  return state;
}

/**
 * Writes `text` unless the reader is gone; a write that fails is recorded, never thrown.
 * For stderr and the odd direct write (error reports, prompts).
 */
export function writeQuietly(stream: Stream, text: string): void {
  const state = watchStream(stream);
  if (state.gone || state.failure !== undefined) return;
  try {
    stream.write(text, (error) => {
      if (error) noteWriteError(state, error);
    });
  } catch (error) {
    // A synchronous file stream (stdout redirected to a file) may throw instead.
    noteWriteError(
      state,
      error instanceof Error ? error : new Error(String(error)),
    );
  }
}
