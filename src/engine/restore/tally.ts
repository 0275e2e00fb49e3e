/**
 * The counts of one restore and what the sink hears: every warning that means something was
 * not restored goes through fail(), so `errors` always matches the warnings; every entry's fate
 * goes through item(), so the counts match what -v lists.
 */
import { DamagedData, ProtectedRefusal } from "./failures.js";
import type { RestoreAction, RestoreResult, RestoreSink } from "./types.js";

/** Progress reaches the sink this often at most (a terminal repaints about 10 times a second). */
const REPORT_INTERVAL_MS = 50;

/** An entry's path for the sink: shown already, or shown on demand (Tally.item). */
export type Shown = string | (() => string);

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
    written: 0,
    overwritten: 0,
    leftAlone: 0,
    deleted: 0,
    verified: 0,
    leftoversRemoved: 0,
    errors: 0,
    refused: 0,
    damaged: 0,
    unmatched: [],
  };
  /** Bytes written so far, of files that later failed verification too (result.bytes has not). */
  private progressBytes = 0;
  /** When the sink last heard of progress (performance.now()). */
  private lastReport = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly sink: RestoreSink,
    private readonly totals: Totals,
  ) {}

  /**
   * Counts and warns one thing not restored; `error` tells a refusal and damaged data from
   * other causes (something in the way, a permission).
   */
  fail(message: string, error?: unknown): void {
    this.result.errors++;
    if (error instanceof ProtectedRefusal) this.result.refused++;
    if (error instanceof DamagedData) this.result.damaged++;
    this.sink.warn(message);
  }

  /** Counts and warns one thing not restored because the repository's data for it is bad. */
  damaged(message: string): void {
    this.fail(message, new DamagedData(message));
  }

  /** A warning that is not an error (a protected path kept by the delete pass). */
  warn(message: string): void {
    this.sink.warn(message);
  }

  /**
   * Tells the sink what happens to one entry (`shown`: its path as target.show() gives it, or a
   * function that makes it, called only for a sink that lists items: showing a path costs
   * about 3 µs, a few per cent of a small file's whole restore).
   */
  item(action: RestoreAction, shown: Shown): void {
    if (this.sink.item !== undefined)
      this.sink.item(action, typeof shown === "string" ? shown : shown());
  }

  /** A file written (or, in a dry run, that would be) over something or where nothing was. */
  fileWritten(
    size: number,
    action: "create" | "overwrite",
    shown: Shown,
  ): void {
    this.result.files++;
    this.result.bytes += size;
    this.countWrite(action, shown);
    this.reportThrottled();
  }

  /** A file already in place: found identical, or already the right hard link. */
  fileKept(shown: Shown): void {
    this.result.files++;
    this.result.skippedIdentical++;
    this.result.leftAlone++;
    this.item("unchanged", shown);
    this.reportThrottled();
  }

  /** A file the overwrite policy leaves as it is (not the snapshot's, so not in `files`). */
  fileLeft(shown: string): void {
    this.result.leftAlone++;
    this.item("keep", shown);
  }

  /** A file made a hard link of one written earlier. */
  fileLinked(action: "create" | "overwrite", shown: Shown): void {
    this.result.files++;
    this.countWrite(action, shown);
    this.reportThrottled();
  }

  /** An entry removed from the target (a directory with what it holds counts once). */
  deleted(shown: string): void {
    this.result.deleted++;
    this.item("delete", shown);
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

  private countWrite(action: "create" | "overwrite", shown: Shown): void {
    if (action === "create") this.result.written++;
    else this.result.overwritten++;
    this.item(action, shown);
  }
}
