/**
 * Where commands print. Commands never touch process.stdout directly: they get an Output, so
 * tests run them in-process and capture everything. `quiet` keeps only errors and warnings;
 * `json` makes long commands print one JSON object per line.
 */
import { formatBytes } from "./format.js";

export interface Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  /** Normal output (stdout). */
  line(text: string): void;
  /** Raw bytes to stdout (cat). */
  write(bytes: Uint8Array): Promise<void>;
  /** One JSON value per line (stdout). */
  jsonLine(value: unknown): void;
  /** Warnings (stderr), shown even with -q. */
  warn(text: string): void;
  /** A transient status line on a terminal (stderr); ignored elsewhere. */
  status(text: string): void;
  /** Clears the status line. */
  endStatus(): void;
}

export interface Stream {
  write(
    chunk: string | Uint8Array,
    callback?: (error?: Error | null) => void,
  ): boolean;
  readonly isTTY?: boolean;
}

export function streamOutput(
  stdout: Stream,
  stderr: Stream,
  flags: { json: boolean; quiet: boolean; verbose: boolean },
): Output {
  const showStatus = stderr.isTTY === true && !flags.quiet && !flags.json;
  let statusShown = false;
  let lastStatus = 0;
  const clear = (): void => {
    if (statusShown) stderr.write("\r\x1b[2K");
    statusShown = false;
  };
  return {
    ...flags,
    line(text) {
      if (flags.quiet) return;
      clear();
      stdout.write(`${text}\n`);
    },
    write(bytes) {
      return new Promise((resolve, reject) => {
        stdout.write(bytes, (error) => {
          if (error) reject(error);
          else resolve();
        });
      });
    },
    jsonLine(value) {
      clear();
      stdout.write(`${JSON.stringify(value)}\n`);
    },
    warn(text) {
      clear();
      stderr.write(`warning: ${text}\n`);
    },
    status(text) {
      if (!showStatus) return;
      const now = Date.now();
      // Repainting more than ~10 times a second costs CPU and shows nothing more.
      if (now - lastStatus < 100) return;
      lastStatus = now;
      const width = (stderr as { columns?: number }).columns ?? 100;
      stderr.write(`\r\x1b[2K${text.slice(0, Math.max(20, width - 1))}`);
      statusShown = true;
    },
    endStatus: clear,
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
    `${options.verb} ${options.files} files`,
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
