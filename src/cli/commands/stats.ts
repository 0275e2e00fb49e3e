/**
 * `stats REPO [SNAPSHOT]`: the repository's stored size, blobs and deduplication ratio, or
 * what a snapshot holds (restic's `stats --mode restore-size|raw-data`).
 */
import { Command, Option } from "commander";
import {
  rawData,
  repositoryStats,
  restoreSize,
  type RawData,
  type RepositoryStats,
  type RestoreSize,
} from "../../engine/index.js";
import {
  NO_FILTER,
  selectSnapshot,
  type Snapshot,
  type SnapshotFilter,
} from "../../repo/index.js";
import { toHex } from "../../util/bytes.js";
import { withRepository, type CommandContext } from "../context.js";
import { formatBytes, plural } from "../output/format.js";
import {
  addFilterOptions,
  filterOf,
  FILTER_RULES,
  type FilterOptionValues,
} from "./filter-options.js";
import { contextOf } from "./shared.js";

export const STATS_MODES = ["restore-size", "raw-data"] as const;
export type StatsMode = (typeof STATS_MODES)[number];

export interface StatsOptions {
  readonly repository: string;
  /** An id, unique prefix or "latest"; without it, the whole repository. */
  readonly snapshot?: string;
  /** Without a snapshot, counted over every snapshot; default restore-size with a snapshot. */
  readonly mode?: StatsMode;
  readonly filter?: SnapshotFilter;
}

export interface StatsResult {
  readonly repository?: RepositoryStats & { readonly dedupRatio: number };
  readonly snapshot?: Snapshot;
  readonly restoreSize?: RestoreSize;
  readonly rawData?: RawData;
}

/** logical / stored, two decimals; 0 for an empty repository (nothing stored, nothing to say). */
function ratio(logical: number, stored: number): number {
  return stored === 0 ? 0 : Math.round((logical / stored) * 100) / 100;
}

function printRepository(
  context: CommandContext,
  stats: RepositoryStats & { dedupRatio: number },
): void {
  const { output } = context;
  const { data, tree, snapshot } = stats.blobs;
  output.line(`Snapshots:      ${stats.snapshots}`);
  output.line(
    `Stored:         ${formatBytes(stats.storedBytes)} in ${plural(data.count + tree.count + snapshot.count, "blob")}` +
      ` (data ${data.count}: ${formatBytes(data.bytes)}, tree ${tree.count}: ${formatBytes(tree.bytes)},` +
      ` snapshot ${snapshot.count}: ${formatBytes(snapshot.bytes)})`,
  );
  output.line(
    `Logical:        ${formatBytes(stats.logicalBytes)} in ${plural(stats.files, "file")}, all snapshots together`,
  );
  output.line(
    `Deduplication:  ${stats.dedupRatio.toFixed(2)}x (logical / stored)`,
  );
}

function printSelection(context: CommandContext, result: StatsResult): void {
  const { output } = context;
  const snapshot = result.snapshot;
  output.line(
    snapshot === undefined
      ? "All snapshots:"
      : `Snapshot ${toHex(snapshot.id).slice(0, 8)} of ${snapshot.time} (${snapshot.host}: ${snapshot.paths.join(", ")}):`,
  );
  const size = result.restoreSize;
  if (size !== undefined) {
    const fifos = size.fifos > 0 ? `, ${plural(size.fifos, "fifo")}` : "";
    const others = size.others > 0 ? `, ${plural(size.others, "other")}` : "";
    output.line(
      `  Restore size: ${formatBytes(size.bytes)} in ${plural(size.files, "file")}, ` +
        `${plural(size.dirs, "directory", "directories")}, ${plural(size.symlinks, "symlink")}${fifos}${others}`,
    );
  }
  const raw = result.rawData;
  if (raw !== undefined) {
    const missing =
      raw.missing > 0 ? ` (${raw.missing} missing: run blindsync check)` : "";
    output.line(
      `  Raw data:     ${formatBytes(raw.storedBytes)} stored in ${plural(raw.blobs, "distinct blob")}${missing}`,
    );
  }
  if (snapshot !== undefined)
    output.line(
      `  Its backup added ${plural(snapshot.stats.blobsAdded, "data blob")} (${formatBytes(snapshot.stats.bytesAdded)} of content)`,
    );
}

function resultJson(result: StatsResult): Record<string, unknown> {
  const snapshot = result.snapshot;
  return {
    ...(result.repository === undefined
      ? {}
      : { repository: result.repository }),
    ...(snapshot === undefined
      ? {}
      : {
          snapshot: {
            id: toHex(snapshot.id),
            time: snapshot.time,
            host: snapshot.host,
            paths: snapshot.paths,
            blobsAdded: snapshot.stats.blobsAdded,
            bytesAdded: snapshot.stats.bytesAdded,
          },
        }),
    ...(result.restoreSize === undefined
      ? {}
      : { restoreSize: result.restoreSize }),
    ...(result.rawData === undefined ? {} : { rawData: result.rawData }),
  };
}

export async function runStats(
  context: CommandContext,
  options: StatsOptions,
): Promise<StatsResult> {
  return withRepository(
    context,
    options.repository,
    async ({ repo, snapshots }) => {
      const snapshot =
        options.snapshot === undefined
          ? undefined
          : selectSnapshot(
              snapshots,
              options.snapshot,
              options.filter ?? NO_FILTER,
            );
      let result: StatsResult = {};
      if (snapshot === undefined) {
        const stats = await repositoryStats(repo.store, snapshots);
        result = {
          repository: {
            ...stats,
            dedupRatio: ratio(stats.logicalBytes, stats.storedBytes),
          },
        };
      }
      const selection = snapshot === undefined ? snapshots : [snapshot];
      const mode =
        options.mode ?? (snapshot === undefined ? undefined : "restore-size");
      if (mode === "restore-size")
        result = {
          ...result,
          restoreSize: await restoreSize(repo, selection),
        };
      if (mode === "raw-data")
        result = { ...result, rawData: await rawData(repo, selection) };
      if (snapshot !== undefined) result = { ...result, snapshot };
      if (context.output.json) {
        context.output.jsonLine(resultJson(result));
        return result;
      }
      if (result.repository !== undefined)
        printRepository(context, result.repository);
      if (mode !== undefined) printSelection(context, result);
      return result;
    },
  );
}

export function statsCommand(): Command {
  const command = new Command("stats")
    .description(
      "show the repository's stored size and deduplication, or what a snapshot holds",
    )
    .argument("<repo>", "the repository")
    .argument(
      "[snapshot]",
      'a snapshot id, unique prefix or "latest" (default: the whole repository)',
    )
    .addOption(
      new Option(
        "--mode <mode>",
        "restore-size: files and bytes a restore writes; raw-data: the distinct blobs referenced and their stored size",
      ).choices(STATS_MODES),
    );
  return addFilterOptions(command, 'pick "latest" among')
    .addHelpText(
      "after",
      `
Without a snapshot: how many snapshots and blobs the repository stores, their stored
(encrypted, padded) size, the logical size of all snapshots together (what restoring each
would write, as each backup recorded it) and the deduplication ratio, logical / stored.
With --mode, also counted over all snapshots from their trees.
With a snapshot: what restoring it writes (--mode restore-size, the default) or the distinct
blobs it references and their stored size (--mode raw-data).

${FILTER_RULES}
They choose "latest"; a snapshot named by id is taken as named.

With --json: one object, {repository: {snapshots, blobs: {data, tree, snapshot: {count,
bytes}}, storedBytes, logicalBytes, files, dedupRatio}} without a snapshot, and
{snapshot: {id, time, host, paths, blobsAdded, bytesAdded}} with one; restoreSize {files,
dirs, symlinks, fifos, others, bytes} and rawData {blobs, storedBytes, missing} by mode.

Examples:
  blindsync stats me@host:vault
  blindsync stats me@host:vault latest
  blindsync stats me@host:vault 1a2b3c4d --mode raw-data
  blindsync stats me@host:vault --json | jq .repository.dedupRatio`,
    )
    .action(
      async (
        repository: string,
        snapshot: string | undefined,
        flags: { mode?: StatsMode } & FilterOptionValues,
        command: Command,
      ) => {
        await runStats(contextOf(command), {
          repository,
          filter: filterOf(flags),
          ...(snapshot === undefined ? {} : { snapshot }),
          ...(flags.mode === undefined ? {} : { mode: flags.mode }),
        });
      },
    );
}
