/**
 * A backup's progress line on a terminal, as restic draws it: elapsed time, files and bytes
 * done of the total the walk found, percent, rate, ETA, then the file being read, cut from the
 * left to the width left over:
 *
 *   [0:12] 45%  1234 / 5000 files  1.20 GiB / 2.67 GiB  102.4 MiB/s  ETA 0:15  …/photos/b.jpg
 *
 * While the scan is still counting, the totals carry a "+" and there is no percent or ETA yet:
 * a fraction of a total that is still growing would promise too much.
 */
import { formatBytes, plural } from "./format.js";

/** The totals the walk will reach, as far as counted (engine/backup/prewalk.ts WalkTotals). */
export interface ProgressTotals {
  readonly files: number;
  readonly bytes: number;
  readonly complete: boolean;
}

export interface BackupProgressView {
  readonly files: number;
  readonly bytes: number;
  /** The file being read (or the directory just finished), if any. */
  readonly current: string | undefined;
  /** Milliseconds of the run so far. */
  readonly elapsedMs: number;
  /** Undefined when nothing is counted (no scan). */
  readonly totals: ProgressTotals | undefined;
}

/** Seconds as restic shows them: m:ss, or h:mm:ss from an hour on. */
export function formatClock(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const secs = String(whole % 60).padStart(2, "0");
  return hours > 0
    ? `${hours}:${String(minutes).padStart(2, "0")}:${secs}`
    : `${minutes}:${secs}`;
}

/** `path` cut from the left to at most `room` characters (the file name matters most). */
export function fitPath(path: string, room: number): string {
  if (path.length <= room) return path;
  if (room < 8) return "";
  return `…${path.slice(path.length - (room - 1))}`;
}

/** The progress line for a terminal `columns` wide. */
export function backupProgressLine(
  view: BackupProgressView,
  columns: number,
): string {
  const seconds = Math.max(view.elapsedMs / 1000, 0.001);
  const rate = view.bytes / seconds;
  const rateText = `${formatBytes(Math.round(rate))}/s`;
  const parts = [`[${formatClock(seconds)}]`];
  const { totals } = view;
  if (totals === undefined) {
    parts.push(plural(view.files, "file"), formatBytes(view.bytes), rateText);
  } else {
    // Files that appeared or grew after the scan passed them can take the walk past it.
    const totalFiles = Math.max(totals.files, view.files);
    const totalBytes = Math.max(totals.bytes, view.bytes);
    const more = totals.complete ? "" : "+";
    if (totals.complete) {
      const fraction =
        totalBytes > 0
          ? view.bytes / totalBytes
          : view.files / (totalFiles || 1);
      // Beside the clock, as restic shows it: "[0:12] 45%".
      parts[0] = `${parts[0] ?? ""} ${Math.floor(Math.min(fraction, 1) * 100)}%`;
    }
    parts.push(
      `${view.files} / ${totalFiles}${more} files`,
      `${formatBytes(view.bytes)} / ${formatBytes(totalBytes)}${more}`,
    );
    parts.push(rateText);
    if (totals.complete && rate > 0)
      parts.push(`ETA ${formatClock((totalBytes - view.bytes) / rate)}`);
  }
  const line = parts.join("  ");
  if (view.current === undefined) return line;
  const path = fitPath(view.current, columns - line.length - 2);
  return path === "" ? line : `${line}  ${path}`;
}
