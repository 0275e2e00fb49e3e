/** `find REPO PATTERN...`: entries whose name or path matches, across snapshots (restic's find). */
import { Command } from "commander";
import { findInSnapshots, PatternSet } from "../../engine/index.js";
import {
  matchesFilter,
  NO_FILTER,
  selectSnapshot,
  type Snapshot,
  type SnapshotFilter,
  type TreeEntry,
} from "../../repo/index.js";
import { toHex } from "../../util/bytes.js";
import { withRepository, type CommandContext } from "../context.js";
import { displayPath, formatBytes } from "../output/format.js";
import { endWhenReaderGone } from "../output/output.js";
import {
  addFilterOptions,
  filterOf,
  FILTER_RULES,
  type FilterOptionValues,
} from "./filter-options.js";
import { collect, contextOf } from "./shared.js";

export interface FindOptions {
  readonly repository: string;
  readonly patterns: readonly string[];
  /** Snapshot ids, prefixes or "latest": only these (default: every snapshot the filter keeps). */
  readonly snapshots?: readonly string[];
  readonly filter?: SnapshotFilter;
  readonly ignoreCase?: boolean;
}

export interface FindResult {
  readonly matches: number;
  /** Snapshots searched. */
  readonly snapshots: number;
}

function shownTime(time: string): string {
  return time.replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function entrySize(entry: TreeEntry): number {
  return entry.type === "file" ? entry.size : 0;
}

/** The snapshots to search, oldest first: the named ones, or all that pass the filter. */
function chosenSnapshots(
  all: readonly Snapshot[],
  named: readonly string[],
  filter: SnapshotFilter,
): Snapshot[] {
  if (named.length === 0)
    return all.filter((snapshot) => matchesFilter(filter, snapshot));
  const chosen = new Set(
    named.map((reference) => selectSnapshot(all, reference, filter)),
  );
  return all.filter((snapshot) => chosen.has(snapshot));
}

export async function runFind(
  context: CommandContext,
  options: FindOptions,
): Promise<FindResult> {
  // Checked before connecting: a malformed pattern is a usage error, not a passphrase prompt.
  const patterns = new PatternSet(options.patterns, {
    ignoreCase: options.ignoreCase === true,
  });
  return withRepository(
    context,
    options.repository,
    async ({ repo, snapshots: all }) => {
      const { output } = context;
      const snapshots = chosenSnapshots(
        all,
        options.snapshots ?? [],
        options.filter ?? NO_FILTER,
      );
      let matches = 0;
      let current: Snapshot | undefined;
      for await (const found of findInSnapshots(repo, snapshots, patterns)) {
        matches++;
        const { snapshot, entry } = found;
        const path = displayPath(found.path);
        if (output.json) {
          output.jsonLine({
            snapshot: toHex(snapshot.id),
            time: snapshot.time,
            path,
            type: entry.type,
            mode: entry.mode,
            size: entrySize(entry),
            mtime: new Date(Number(entry.mtimeNs / 1_000_000n)).toISOString(),
          });
          continue;
        }
        if (current !== snapshot) {
          if (current !== undefined) output.line("");
          output.line(
            `Found in snapshot ${toHex(snapshot.id).slice(0, 8)} of ${shownTime(snapshot.time)} (${snapshot.host}):`,
          );
          current = snapshot;
        }
        const size =
          entry.type === "file" ? `  ${formatBytes(entry.size)}` : "";
        output.line(`  ${path}${entry.type === "dir" ? "/" : ""}${size}`);
      }
      if (!output.json && matches === 0)
        output.line(
          `No match in ${snapshots.length} snapshot${snapshots.length === 1 ? "" : "s"}`,
        );
      return { matches, snapshots: snapshots.length };
    },
  );
}

export function findCommand(): Command {
  const command = new Command("find")
    .description("find files and directories by name or path in every snapshot")
    .argument("<repo>", "the repository")
    .argument(
      "<pattern...>",
      "a glob: on the name, or on the end of the path when it holds a /",
    )
    .option(
      "-s, --snapshot <id>",
      'search only this snapshot (id, unique prefix or "latest"; repeatable)',
      collect,
      [],
    )
    .option("-i, --ignore-case", "compare names without regard to case");
  return addFilterOptions(command, "search")
    .addHelpText(
      "after",
      `
Patterns are shell globs matched one path component at a time: * and ? never cross a /,
[a-z] and [!a-z] are classes, ** stands for any number of directories. A pattern without a
/ matches the name of a file or directory anywhere; one with a / matches the end of its
path; a leading / anchors it at the snapshot root. Quote patterns so the shell leaves them
alone. Paths are printed relative to the snapshot root, as ls, cat and dump take them.
Several patterns: an entry matching any of them is listed.

${FILTER_RULES}

With --json: one object per match, {snapshot, time, path, type, mode, size, mtime}.

Examples:
  blindsync find me@host:vault '*.pdf'
  blindsync find me@host:vault 'projects/*/README*' --host laptop
  blindsync find me@host:vault '/etc/**/ssh*' --snapshot latest
  blindsync find me@host:vault -i 'invoice*' --json | jq -r .path`,
    )
    .action(
      async (
        repository: string,
        patterns: string[],
        flags: {
          snapshot: string[];
          ignoreCase?: boolean;
        } & FilterOptionValues,
        command: Command,
      ) => {
        const context = contextOf(command);
        await runFind(
          { ...context, output: endWhenReaderGone(context.output) },
          {
            repository,
            patterns,
            snapshots: flags.snapshot,
            filter: filterOf(flags),
            ignoreCase: flags.ignoreCase === true,
          },
        );
      },
    );
}
