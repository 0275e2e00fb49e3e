/**
 * The counts of one restore and what the sink hears: every warning that means something was
 * not restored goes through fail(), so `errors` always matches the warnings.
 */
import { ProtectedRefusal } from "./failures.js";
import type { RestoreResult, RestoreSink } from "./types.js";

/** Progress reaches the sink this often at most (a terminal repaints about 10 times a second). */
const REPORT_INTERVAL_MS = 50;

export interface Totals {
  readonly totalFiles?: number;
  readonly totalBytes?: number;
}

export class Tally {
  readonly result: RestoreResult = {
    files: 0,
    dirs: 0,
    symlinks: 0,
    bytes: 0,
    skippedIdentical: 0,
    deleted: 0,
    errors: 0,
    refused: 0,
  };
  /** Bytes written so far, of files that later failed verification too (result.bytes has not). */
  private progressBytes = 0;
  /** When the sink last heard of progress (performance.now()). */
  private lastReport = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly sink: RestoreSink,
    private readonly totals: Totals,
  ) {}

  /** Counts and warns one thing not restored; `error` tells a refusal from other causes. */
  fail(message: string, error?: unknown): void {
    this.result.errors++;
    if (error instanceof ProtectedRefusal) this.result.refused++;
    this.sink.warn(message);
  }

  /** A warning that is not an error (a protected path kept by the delete pass). */
  warn(message: string): void {
    this.sink.warn(message);
  }

  /** A file written and verified: `size` bytes of content. */
  fileWritten(size: number): void {
    this.result.files++;
    this.result.bytes += size;
    this.reportThrottled();
  }

  /** A file already in place: found identical, or already the right hard link. */
  fileKept(): void {
    this.result.files++;
    this.result.skippedIdentical++;
    this.reportThrottled();
  }

  /** A file made a hard link of one written earlier. */
  fileLinked(): void {
    this.result.files++;
    this.reportThrottled();
  }

  /** `count` bytes of some file's content written. */
  bytesWritten(count: number): void {
    this.progressBytes += count;
    this.reportThrottled();
  }

  /**
   * Tells the sink, at most every REPORT_INTERVAL_MS: a sink called for every file of a tree
   * of small files formatted a progress line twice per file (docs/performance.md). The caller
   * ends with report(), so the last numbers are always heard.
   */
  private reportThrottled(): void {
    const now = performance.now();
    if (now - this.lastReport < REPORT_INTERVAL_MS) return;
    this.lastReport = now;
    this.report();
  }

  report(): void {
    this.sink.progress({
      files: this.result.files,
      bytes: this.progressBytes,
      ...this.totals,
    });
  }
}
