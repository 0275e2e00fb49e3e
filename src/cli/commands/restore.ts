/** `blindsync restore REPO TARGET` (and the bare `blindsync REPO TARGET` form). */
import { resolve } from "node:path";
import { Command } from "commander";
import { BlindsyncError } from "../../errors.js";
import {
  applyRootMeta,
  restoreSnapshot,
  type ProtectedPath,
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
import { formatBytes } from "../output/format.js";
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
  readonly include?: readonly string[];
  readonly delete?: boolean;
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
        delete: options.delete ?? false,
        protect: protectedPaths(context, location),
        sink: {
          progress(progress) {
            output.status(
              progressLine({
                verb: "Restored",
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
        },
      });
      if (include.length === 0 && snapshot.root !== undefined)
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
      ...result,
      seconds,
    });
  } else {
    output.line(
      `Restored snapshot ${toHex(id).slice(0, 8)} to "${options.target}": ${result.files} files, ${result.dirs} directories, ` +
        `${result.symlinks} symlinks, ${formatBytes(result.bytes)} in ${formatDuration(seconds)}` +
        (result.skippedIdentical > 0
          ? ` (${result.skippedIdentical} files already identical)`
          : ""),
    );
  }
  if (result.errors > 0 && result.errors === result.refused) {
    // Not damaged data: the snapshot has something where the repository or the cache is.
    throw new BlindsyncError(
      "failed",
      `${result.refused} entries were not restored: they would have replaced the repository or the client cache (see the warnings above)`,
      {
        hint: "Restore into another directory, or leave those paths out with --include",
      },
    );
  }
  if (result.errors > 0) {
    throw new BlindsyncError(
      "integrity",
      `${result.errors} files or directories could not be restored (see the warnings above)`,
    );
  }
  return result;
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
      "-i, --include <path>",
      "restore only this path of the snapshot (repeatable)",
      collect,
      [],
    )
    .option(
      "--delete",
      "delete files in the target that the snapshot does not have",
    );
  return addFilterOptions(command, 'pick "latest" among')
    .addHelpText(
      "after",
      `
Every file is checked against its SHA-256 before it gets its real name: a small file in a
directory the restore creates is checked in memory, then written; any other file is written
under a temporary name, checked, then renamed. Nothing unverified ever appears under a real
name. Files already identical in the target are left alone. Names that could escape the target are refused. A local repository and
the client cache are never deleted or overwritten, with or without --delete.

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
  blindsync restore me@host:vault /tmp/old --tag daily,home`,
    )
    .action(
      async (
        repository: string,
        target: string,
        flags: {
          snapshot: string;
          include: string[];
          delete?: boolean;
        } & FilterOptionValues,
        command: Command,
      ) => {
        await runRestore(contextOf(command), {
          repository,
          target,
          snapshot: flags.snapshot,
          include: flags.include,
          delete: flags.delete === true,
          filter: filterOf(flags),
          shortForm: invocation.shortRestore,
        });
      },
    );
}
