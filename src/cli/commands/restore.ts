/** `blindsync restore REPO TARGET` (and the bare `blindsync REPO TARGET` form). */
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { BlindsyncError } from "../../errors.js";
import {
  applyRootMeta,
  DEFAULT_OVERWRITE,
  OVERWRITE_POLICIES,
  restoreSnapshot,
  type OverwritePolicy,
  type ProtectedPath,
  type RestoreAction,
  type RestoreResult,
} from "../../engine/index.js";
import {
  describeFilter,
  isEmptyFilter,
  NO_FILTER,
  selectSnapshot,
  sourceSets,
  type Snapshot,
  type SnapshotFilter,
} from "../../repo/index.js";
import { localRepositoryFiles, type Location } from "../../store/index.js";
import { toHex } from "../../util/bytes.js";
import { cacheRoot, withRepository, type CommandContext } from "../context.js";
import { formatBytes, plural } from "../output/format.js";
import { formatDuration, progressLine } from "../output/output.js";
import {
  addFilterOptions,
  filterOf,
  FILTER_RULES,
  type FilterOptionValues,
} from "./filter-options.js";
import { collect, contextOf } from "./shared.js";

export interface RestoreCommandOptions {
  readonly repository: string;
  readonly target: string;
  readonly snapshot?: string;
  /** Plain paths or gitignore-style patterns, relative to the snapshot root. */
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  readonly delete?: boolean;
  readonly overwrite?: OverwritePolicy;
  /** Say what would change, change nothing. */
  readonly dryRun?: boolean;
  /** Read every written file back and compare it with the snapshot. */
  readonly verify?: boolean;
  readonly filter?: SnapshotFilter;
  /**
   * Run as `blindsync REPO TARGET`: `latest` must then be clear, so several source sets
   * (host + paths) that the filter does not narrow to one are refused.
   */
  readonly shortForm?: boolean;
}

/**
 * The snapshot `blindsync REPO TARGET` restores: `latest` among the filter's picks, unless
 * they come from several source sets. Then whichever was backed up last would win, which
 * after backing up two folders is a guess; the refusal lists each set with the options
 * that pick it.
 */
function shortFormSnapshot(
  snapshots: readonly Snapshot[],
  options: RestoreCommandOptions,
): Snapshot {
  const filter = options.filter ?? NO_FILTER;
  const sets = sourceSets(snapshots, filter);
  if (sets.length <= 1) return selectSnapshot(snapshots, "latest", filter);
  const width = Math.max(...sets.map((set) => set.flags.length));
  const lines = sets.map(
    (set) =>
      `  ${set.flags.padEnd(width)}  (${set.host}: ${set.paths.join(", ")}; latest ${toHex(set.latest.id).slice(0, 8)} of ${set.latest.time.slice(0, 10)})`,
  );
  const picked = isEmptyFilter(filter)
    ? ""
    : ` that ${describeFilter(filter)} picks`;
  throw new BlindsyncError(
    "usage",
    `Not restoring: the repository holds ${sets.length} source sets${picked}, and "blindsync ${options.repository} ${options.target}" would pick one by guessing. Candidates:\n${lines.join("\n")}`,
    {
      hint: `Name one with its options: blindsync ${options.repository} ${options.target} ${(sets.at(-1) as (typeof sets)[number]).flags}`,
    },
  );
}

/**
 * What no restore may delete or overwrite, whatever the flags: a local repository (its
 * directory, database and the database's journal siblings) and the client cache. A remote
 * repository lives on another machine (or behind ssh, where this client cannot tell).
 */
export function protectedPaths(
  context: CommandContext,
  location: Location,
): ProtectedPath[] {
  const paths: ProtectedPath[] = [
    { path: resolve(cacheRoot(context)), what: "the client cache" },
  ];
  if (location.kind === "local") {
    const dir = resolve(location.path);
    paths.push({ path: dir, what: "the repository" });
    for (const file of localRepositoryFiles(dir))
      paths.push({ path: file, what: "the repository's database" });
  }
  return paths;
}

export async function runRestore(
  context: CommandContext,
  options: RestoreCommandOptions,
): Promise<RestoreResult> {
  const { output } = context;
  const startedAt = Date.now();
  const dryRun = options.dryRun === true;
  const { result, id } = await withRepository(
    context,
    options.repository,
    async ({ repo, snapshots }, location) => {
      const reference = options.snapshot ?? "latest";
      const snapshot =
        options.shortForm === true && reference === "latest"
          ? shortFormSnapshot(snapshots, options)
          : selectSnapshot(snapshots, reference, options.filter ?? NO_FILTER);
      const include = options.include ?? [];
      const restored = await restoreSnapshot({
        repo,
        snapshot,
        target: options.target,
        include,
        exclude: options.exclude ?? [],
        delete: options.delete ?? false,
        overwrite: options.overwrite ?? DEFAULT_OVERWRITE,
        dryRun,
        verify: options.verify ?? false,
        protect: protectedPaths(context, location),
        sink: {
          progress(progress) {
            output.status(
              progressLine({
                verb: dryRun ? "Checked" : "Restored",
                files: progress.files,
                bytes: progress.bytes,
                startedAt,
                totalBytes: progress.totalBytes ?? snapshot.stats.bytes,
              }),
            );
            if (output.json) output.jsonLine({ type: "status", ...progress });
          },
          warn(message) {
            output.warn(message);
          },
          // Only with -v: without a listener the restore does not make each path's text.
          ...(output.verbose
            ? {
                item(action: RestoreAction, path: string): void {
                  if (output.json)
                    output.jsonLine({ type: "item", action, path });
                  else output.line(`${action.padEnd(ACTION_WIDTH)} ${path}`);
                },
              }
            : {}),
        },
      });
      if (!dryRun && include.length === 0 && snapshot.root !== undefined)
        await applyRootMeta(options.target, snapshot.root);
      return { result: restored, id: snapshot.id };
    },
  );
  output.endStatus();
  const seconds = (Date.now() - startedAt) / 1000;
  if (output.json) {
    output.jsonLine({
      type: "summary",
      snapshot: toHex(id),
      dryRun,
      ...result,
      seconds,
    });
  } else {
    output.line(summaryLine(options, id, result, seconds, dryRun));
  }
  throwForFailures(result);
  return result;
}

/** Wide enough for the longest action word, so -v lines align. */
const ACTION_WIDTH = "overwrite".length;

function summaryLine(
  options: RestoreCommandOptions,
  id: Uint8Array,
  result: RestoreResult,
  seconds: number,
  dryRun: boolean,
): string {
  const counts =
    `${result.written} new, ${result.overwritten} overwritten, ${result.leftAlone} left alone` +
    (result.skippedIdentical > 0
      ? ` (${result.skippedIdentical} already identical)`
      : "") +
    `, ${result.deleted} deleted`;
  const short = toHex(id).slice(0, 8);
  if (dryRun) {
    return `Dry run of snapshot ${short} into "${options.target}": would write ${plural(result.files - result.skippedIdentical, "file")} (${formatBytes(result.bytes)}): ${counts}; nothing was changed`;
  }
  return (
    `Restored snapshot ${short} to "${options.target}": ${plural(result.files, "file")}, ${plural(result.dirs, "directory", "directories")}, ` +
    `${plural(result.symlinks, "symlink")}, ${formatBytes(result.bytes)} in ${formatDuration(seconds)}; ${counts}` +
    (result.verified > 0
      ? `; ${plural(result.verified, "file")} verified`
      : "") +
    (result.leftoversRemoved > 0
      ? `; removed ${result.leftoversRemoved} temporary files an interrupted restore left`
      : "")
  );
}

/**
 * The exit code of a restore that finished with problems: damaged or missing data in the
 * repository is 13 (integrity); what the target or the command line got wrong (something in the
 * way, an include that matched nothing, a protected path) is 1.
 */
function throwForFailures(result: RestoreResult): void {
  const unmatched = result.unmatched.map((spec) => `"${spec}"`).join(", ");
  const plural = result.unmatched.length > 1;
  const unmatchedMessage = `Include ${plural ? "patterns" : "pattern"} ${unmatched} ${plural ? "match" : "matches"} nothing in the snapshot`;
  const andUnmatched =
    result.unmatched.length > 0 ? `; and ${unmatchedMessage}` : "";
  if (result.damaged > 0) {
    throw new BlindsyncError(
      "integrity",
      `${result.damaged} files or directories could not be restored: their data in the repository is missing or damaged (see the warnings above)${andUnmatched}`,
    );
  }
  if (result.errors > 0 && result.errors === result.refused) {
    // Not damaged data: the snapshot has something where the repository or the cache is.
    throw new BlindsyncError(
      "failed",
      `${result.refused} entries were not restored: they would have replaced the repository or the client cache (see the warnings above)${andUnmatched}`,
      {
        hint: "Restore into another directory, or leave those paths out with --exclude",
      },
    );
  }
  if (result.errors > 0) {
    throw new BlindsyncError(
      "failed",
      `${result.errors} files or directories could not be restored (see the warnings above)${andUnmatched}`,
    );
  }
  if (result.unmatched.length > 0) {
    throw new BlindsyncError("failed", unmatchedMessage);
  }
}

/** How the command line was written: set by main() once the short forms are expanded. */
export interface Invocation {
  shortRestore: boolean;
}

export function restoreCommand(
  invocation: Invocation = { shortRestore: false },
): Command {
  const command = new Command("restore")
    .description("restore a snapshot into a directory")
    .argument("<repo>", "the repository")
    .argument("<target>", "the directory to restore into (created if missing)")
    .option(
      "-s, --snapshot <id>",
      'snapshot id, unique prefix or "latest"',
      "latest",
    )
    .option(
      "-i, --include <pattern>",
      "restore only this path of the snapshot, or what this gitignore-style pattern matches (repeatable)",
      collect,
      [],
    )
    .option(
      "-e, --exclude <pattern>",
      "leave out what this gitignore-style pattern matches, as backup's --exclude (repeatable)",
      collect,
      [],
    )
    .addOption(
      new Option(
        "--overwrite <when>",
        "what to do with a file already in the target",
      )
        .choices(OVERWRITE_POLICIES)
        .default(DEFAULT_OVERWRITE),
    )
    .option(
      "--delete",
      "delete files in the target that the snapshot does not have",
    )
    .option(
      "-n, --dry-run",
      "say what would change (each path with -v), change nothing",
    )
    .option(
      "--verify",
      "read every written file back and compare it with the snapshot",
    );
  return addFilterOptions(command, 'pick "latest" among')
    .addHelpText(
      "after",
      `
Every file is checked against its recorded checksum (a keyed hash over its chunk ids, each
recomputed from the decrypted bytes; the SHA-256 in snapshots older than tree format 3),
written under a temporary name, then renamed
(a small file is checked in memory before it is written; a large one as it is written):
nothing unverified or incomplete ever appears under a real name (the temporary names a
killed restore leaves, ".blindsync-*.tmp", go with the next restore into the target).
Names that could escape the target are refused. A local repository and the client cache
are never deleted or overwritten, with or without --delete.

--include and --exclude: a plain path ("docs/report.odt", "photos/2023") restores exactly
that path of the snapshot; anything with *, ?, [ or a leading ! is a gitignore-style
pattern, read as backup's --exclude reads it ("*.pdf" at any depth, "/notes" only at the
root, "cache/" only directories). Directories are created only for what is restored. An
include that matches nothing is an error (exit 1).

--overwrite, for a file or symlink already in the target (restic's meanings):
  always      replace it, even when it is already identical
  if-changed  replace it unless it already has the snapshot's size, mtime and checksum
              (the default; an identical file only gets its mode fixed)
  if-newer    replace it only when the snapshot's copy has a later mtime
  never       leave it as it is
The summary counts files new, overwritten, left alone and deleted (--json: written,
overwritten, leftAlone, deleted). Damaged or missing data in the repository exits 13;
anything else that could not be restored (something in the way in the target) exits 1.

${FILTER_RULES}
They choose "latest"; a snapshot named by --snapshot is taken as named.

The short form "blindsync REPO TARGET" restores only into a missing or empty TARGET, and
only when "latest" is clear: when the repository holds backups of several source sets
(host + paths) and the filters do not narrow them to one, it refuses (exit 2) and lists
each set with the options that pick it.

Examples:
  blindsync restore /mnt/usb/vault ~/Documents
  blindsync me@host:vault ~/Documents                  (the same for the latest snapshot)
  blindsync me@host:vault ~/Documents --host laptop --path /home/me/Documents
  blindsync restore me@host:vault /tmp/old --snapshot 1a2b3c4d --include notes/todo.txt
  blindsync restore me@host:vault /tmp/old --include '*.pdf' --exclude 'drafts/'
  blindsync restore -v me@host:vault ~/Documents --overwrite if-newer --dry-run
  blindsync restore me@host:vault ~/Documents --overwrite never --verify
  blindsync restore me@host:vault /tmp/old --tag daily,home`,
    )
    .action(
      async (
        repository: string,
        target: string,
        flags: {
          snapshot: string;
          include: string[];
          exclude: string[];
          overwrite: OverwritePolicy;
          delete?: boolean;
          dryRun?: boolean;
          verify?: boolean;
        } & FilterOptionValues,
        command: Command,
      ) => {
        await runRestore(contextOf(command), {
          repository,
          target,
          snapshot: flags.snapshot,
          include: flags.include,
          exclude: flags.exclude,
          overwrite: flags.overwrite,
          delete: flags.delete === true,
          dryRun: flags.dryRun === true,
          verify: flags.verify === true,
          filter: filterOf(flags),
          shortForm: invocation.shortRestore,
        });
      },
    );
}
