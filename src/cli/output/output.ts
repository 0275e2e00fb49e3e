/**
 * Where commands print. Commands never touch process.stdout directly: they get an Output, so
 * tests run them in-process and capture everything. `quiet` keeps only errors and warnings;
 * `json` makes long commands print one JSON object per line.
 *
 * Two rules hold here for every command, so none can forget them:
 * - Text is escaped for the terminal (escape.ts): names and tags come from the repository.
 * - A reader that goes away (`| head`) ends the output quietly (streams.ts). By default the
 *   command carries on without output: a backup still saves its snapshot and releases its
 *   lock. A command whose only product is its output wraps its Output in endWhenReaderGone(),
 *   so it stops at the next print and exits 0 (exit.ts).
 */
import { BlindsyncError, describeError } from "../../errors.js";
import {
  escapeControls,
  escapeControlsKeepLines,
  escapeJsonText,
} from "./escape.js";
import { formatBytes, plural } from "./format.js";
import {
  noteWriteError,
  watchStream,
  writeQuietly,
  type Stream,
  type StreamState,
} from "./streams.js";

export type { Stream } from "./streams.js";

/** A status line, or what makes it for a width in columns. */
export type StatusText = string | ((columns: number) => string);

/** Redraws of the status line at most every this many ms: more costs CPU and shows nothing. */
const STATUS_INTERVAL_MS = 250;

export interface Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  /**
   * Whether status() draws anything: stderr is a terminal and neither -q nor --json is given.
   * Work done only for the status line (a backup's scan for its totals) asks here first.
   */
  readonly showsStatus: boolean;
  /** True once stdout's reader has gone away; printing is then a no-op. */
  readonly readerGone: boolean;
  /** Normal output (stdout), one line; control characters are escaped. */
  line(text: string): void;
  /** Raw bytes to stdout (cat): never escaped. */
  write(bytes: Uint8Array): Promise<void>;
  /** One JSON value per line (stdout). */
  jsonLine(value: unknown): void;
  /** Warnings (stderr), shown even with -q. */
  warn(text: string): void;
  /**
   * A transient status line on a terminal (stderr), redrawn in place at most 4 times a second
   * (the last one asked for is drawn when its turn comes); ignored elsewhere. A function is
   * called with the columns the line may fill only when it is drawn, so the many updates the
   * rate drops cost nothing, and is called again every 250 ms until endStatus() or the next
   * status, so that a line with a clock keeps moving.
   */
  status(text: StatusText): void;
  /** Clears the status line. */
  endStatus(): void;
}

/** Thrown by an Output from endWhenReaderGone() once stdout's reader has gone: exit 0. */
export class OutputClosed extends Error {
  override readonly name = "OutputClosed";
  constructor() {
    super("Nobody reads the output any more");
  }
}

/** The error for a stdout that cannot be written (not a gone reader: a full disk, say). */
export function outputFailed(failure: Error): BlindsyncError {
  return new BlindsyncError(
    "failed",
    `Cannot write the output: ${describeError(failure)}`,
    { cause: failure },
  );
}

export function streamOutput(
  stdout: Stream,
  stderr: Stream,
  flags: { json: boolean; quiet: boolean; verbose: boolean },
): Output {
  const out = watchStream(stdout);
  watchStream(stderr);
  const showStatus = stderr.isTTY === true && !flags.quiet && !flags.json;
  let statusShown = false;
  let lastStatus = 0;
  let pendingStatus: StatusText | undefined;
  /** What the line shows: made by a function, it is redrawn until endStatus(). */
  let shownStatus: StatusText | undefined;
  let statusTimer: NodeJS.Timeout | undefined;
  const clear = (): void => {
    if (statusShown) writeQuietly(stderr, "\r\x1b[2K");
    statusShown = false;
  };
  const drawStatus = (): void => {
    statusTimer = undefined;
    const text =
      pendingStatus ??
      (typeof shownStatus === "function" ? shownStatus : undefined);
    if (text === undefined) return;
    pendingStatus = undefined;
    shownStatus = text;
    lastStatus = Date.now();
    // A terminal of unknown size (a pseudo-terminal without one) says 0 columns.
    const columns = (stderr as { columns?: number }).columns ?? 0;
    const width = columns > 0 ? Math.max(21, columns) : 100;
    const line = typeof text === "function" ? text(width - 1) : text;
    writeQuietly(
      stderr,
      `\r\x1b[2K${escapeControls(line).slice(0, width - 1)}`,
    );
    statusShown = true;
    // Redrawn though nothing new was reported, so that its clock and ETA keep moving while a
    // large file is read. Never keeps the process alive; endStatus() cancels it.
    if (typeof text === "function")
      statusTimer = setTimeout(drawStatus, STATUS_INTERVAL_MS).unref();
  };
  const print = (text: string): void => {
    clear();
    writeQuietly(stdout, text);
  };
  return {
    ...flags,
    showsStatus: showStatus,
    get readerGone() {
      return watchStream(stdout).gone;
    },
    line(text) {
      if (flags.quiet) return;
      print(`${escapeControls(text)}\n`);
    },
    write(bytes) {
      return writeBytes(stdout, out, bytes);
    },
    jsonLine(value) {
      print(`${escapeJsonText(JSON.stringify(value))}\n`);
    },
    warn(text) {
      clear();
      writeQuietly(stderr, `warning: ${escapeControlsKeepLines(text)}\n`);
    },
    status(text) {
      if (!showStatus) return;
      pendingStatus = text;
      // A timer already set draws it when due.
      if (statusTimer !== undefined) return;
      const wait = lastStatus + STATUS_INTERVAL_MS - Date.now();
      if (wait <= 0) drawStatus();
      else statusTimer = setTimeout(drawStatus, wait).unref();
    },
    endStatus() {
      clearTimeout(statusTimer);
      statusTimer = undefined;
      pendingStatus = undefined;
      shownStatus = undefined;
      clear();
    },
  };
}

/**
 * Raw bytes to stdout, resolved once written (so `cat` into a slow reader holds no more than
 * it must). A gone reader resolves quietly; any other failure rejects.
 */
function writeBytes(
  stdout: Stream,
  state: StreamState,
  bytes: Uint8Array,
): Promise<void> {
  watchStream(stdout);
  if (state.failure !== undefined)
    return Promise.reject(outputFailed(state.failure));
  if (state.gone) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const settle = (error?: Error | null): void => {
      if (error) noteWriteError(state, error);
      if (state.failure === undefined) resolve();
      else reject(outputFailed(state.failure));
    };
    try {
      stdout.write(bytes, settle);
    } catch (error) {
      settle(error instanceof Error ? error : new Error(String(error)));
    }
  });
}

/**
 * For commands whose only product is their output (ls, cat, diff, snapshots): once the reader
 * has gone, the next print throws OutputClosed, which unwinds the command (closing the
 * repository on the way) and exits 0, instead of reading the rest for nobody.
 */
export function endWhenReaderGone(output: Output): Output {
  const check = (): void => {
    if (output.readerGone) throw new OutputClosed();
  };
  return {
    json: output.json,
    quiet: output.quiet,
    verbose: output.verbose,
    showsStatus: output.showsStatus,
    get readerGone() {
      return output.readerGone;
    },
    line(text) {
      check();
      output.line(text);
    },
    async write(bytes) {
      check();
      await output.write(bytes);
      check();
    },
    jsonLine(value) {
      check();
      output.jsonLine(value);
    },
    warn(text) {
      output.warn(text);
    },
    status(text) {
      output.status(text);
    },
    endStatus() {
      output.endStatus();
    },
  };
}

/** A progress line: a bar when the total is known (or estimated), counters and rate always. */
export function progressLine(options: {
  verb: string;
  files: number;
  bytes: number;
  startedAt: number;
  totalBytes?: number | undefined;
}): string {
  const elapsed = Math.max((Date.now() - options.startedAt) / 1000, 0.001);
  const rate = options.bytes / elapsed;
  const parts = [
    `${options.verb} ${plural(options.files, "file")}`,
    formatBytes(options.bytes),
    `${formatBytes(rate)}/s`,
  ];
  const total = options.totalBytes;
  if (total !== undefined && total > 0) {
    const fraction = Math.min(options.bytes / total, 1);
    const width = 24;
    const filled = Math.round(fraction * width);
    const eta = rate > 0 ? Math.max(0, (total - options.bytes) / rate) : 0;
    parts.unshift(
      `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${(fraction * 100).toFixed(0)}%`,
    );
    parts.push(`ETA ${formatDuration(eta)}`);
  }
  return parts.join("  ");
}

export function formatDuration(seconds: number): string {
  const whole = Math.round(seconds);
  const minutes = Math.floor(whole / 60);
  return minutes > 0
    ? `${minutes}m${String(whole % 60).padStart(2, "0")}s`
    : `${whole}s`;
}
