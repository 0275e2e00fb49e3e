/**
 * `--host`, `--path` and `--tag`: the snapshot filter options, defined once for every
 * command that selects snapshots (snapshots, ls, cat, diff, restore, forget, tag). The rules
 * themselves are in repo/snapshot-filter.ts.
 */
import type { Command } from "commander";
import { parseSnapshotFilter, type SnapshotFilter } from "../../repo/index.js";
import { collect } from "./shared.js";

/** The parsed values: commander's names for the three options. */
export interface FilterOptionValues {
  readonly host: string[];
  readonly path: string[];
  readonly tag: string[];
}

/** Adds the three options to `command`; `what` finishes "only consider snapshots ...". */
export function addFilterOptions(command: Command, what = ""): Command {
  const only = `only ${what === "" ? "" : `${what} `}snapshots`;
  return command
    .option(
      "--host <host>",
      `${only} of this host (repeatable: any of them)`,
      collect,
      [],
    )
    .option(
      "--path <path>",
      `${only} whose paths include this one (repeatable: all of them)`,
      collect,
      [],
    )
    .option(
      "--tag <tags>",
      `${only} with all of these comma-separated tags (repeatable: any of the lists)`,
      collect,
      [],
    );
}

/** The filter the options give. */
export function filterOf(flags: Partial<FilterOptionValues>): SnapshotFilter {
  return parseSnapshotFilter({
    host: flags.host ?? [],
    path: flags.path ?? [],
    tag: flags.tag ?? [],
  });
}

/** For each command's help: the rules in two lines. */
export const FILTER_RULES = `--host, --path and --tag combine (a snapshot must pass each kind given) and follow restic:
several --host: any of them; several --path: the snapshot's paths include all of them (made
absolute, compared exactly); --tag a,b: both tags, several --tag: any of the lists.`;
