/**
 * What `backup` prints while and after it runs: the progress line on a terminal (with the
 * prewalk's totals), a --json status line per directory, -v's list of new ("+") and changed
 * ("M") files, and the summary with its counts of files new, changed and unchanged.
 */
import type {
  BackupProgress,
  BackupResult,
  BackupSink,
  Prewalk,
} from "../../engine/index.js";
import { toHex } from "../../util/bytes.js";
import { interrupts } from "../interrupt.js";
import { displayPath, formatBytes, plural } from "../output/format.js";
import { formatDuration, type Output } from "../output/output.js";
import { backupProgressLine } from "../output/progress.js";

/** Where the engine reports while the backup runs; the progress line reads `prewalk.totals`. */
export function backupSink(
  output: Output,
  startedAt: number,
  prewalk: Prewalk,
): BackupSink {
  const draw = (progress: BackupProgress): void => {
    // After Ctrl-C the line stays gone: the interruption's message is the last word.
    if (interrupts.signal !== undefined) return;
    output.status((columns) =>
      backupProgressLine(
        {
          files: progress.files,
          bytes: progress.bytes,
          current: progress.current,
          elapsedMs: Date.now() - startedAt,
          totals: prewalk.totals,
        },
        columns,
      ),
    );
  };
  const listSaved: NonNullable<BackupSink["saved"]> = (file) => {
    const path = displayPath(file.path);
    if (output.json)
      output.jsonLine({ type: "file", change: file.change, path });
    else output.line(`${file.change === "new" ? "+" : "M"} ${path}`);
  };
  return {
    progress(progress) {
      draw(progress);
      if (output.json) output.jsonLine({ type: "status", ...progress });
    },
    ...(output.showsStatus ? { reading: draw } : {}),
    ...(output.verbose ? { saved: listSaved } : {}),
    warn(message) {
      output.warn(message);
    },
  };
}

/** Files neither new nor changed: taken from the cache without being read. */
function unchangedFiles(result: BackupResult): number {
  return result.files - result.filesNew - result.filesChanged;
}

/** The summary: one JSON object with --json, else a line and the saved snapshot's id. */
export function printBackupSummary(
  output: Output,
  result: BackupResult,
  run: { readonly seconds: number; readonly dryRun: boolean },
): void {
  const { seconds } = run;
  if (output.json) {
    output.jsonLine({
      type: "summary",
      snapshot:
        result.snapshot === undefined ? null : toHex(result.snapshot.id),
      files: result.files,
      filesNew: result.filesNew,
      filesChanged: result.filesChanged,
      filesUnchanged: unchangedFiles(result),
      dirs: result.dirs,
      bytes: result.bytes,
      blobsAdded: result.blobsAdded,
      bytesAdded: result.bytesAdded,
      bytesStored: result.bytesStored,
      warnings: result.warnings,
      seconds,
      dryRun: run.dryRun,
    });
  } else {
    const verb = result.snapshot === undefined ? "Would add" : "Added";
    output.line(
      `${plural(result.files, "file")} (${result.filesNew} new, ${result.filesChanged} changed, ${unchangedFiles(result)} unchanged), ${plural(result.dirs, "directory", "directories")}, ${formatBytes(result.bytes)} in ${formatDuration(seconds)}; ` +
        `${verb} ${plural(result.blobsAdded, "blob")} (${formatBytes(result.bytesAdded)} new data, ${formatBytes(result.bytesStored)} stored)`,
    );
    if (result.snapshot !== undefined)
      output.line(`Snapshot ${toHex(result.snapshot.id).slice(0, 8)} saved`);
  }
}
