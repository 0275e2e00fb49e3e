/**
 * `dump REPO SNAPSHOT PATH`: a file's bytes, or a directory as a tar stream, on stdout
 * (restic's dump), for a pipe into another program or a file without restoring to disk.
 */
import { Command } from "commander";
import { BlindsyncError } from "../../errors.js";
import {
  dumpTree,
  findEntry,
  pathComponents,
  streamFileAhead,
} from "../../engine/index.js";
import {
  NO_FILTER,
  selectSnapshot,
  type SnapshotFilter,
} from "../../repo/index.js";
import { withRepository, type CommandContext } from "../context.js";
import { displayPath } from "../output/format.js";
import { endWhenReaderGone } from "../output/output.js";
import {
  addFilterOptions,
  filterOf,
  FILTER_RULES,
  type FilterOptionValues,
} from "./filter-options.js";
import { contextOf } from "./shared.js";

export interface DumpOptions {
  readonly repository: string;
  /** An id, unique prefix or "latest". */
  readonly snapshot: string;
  /** Relative to the snapshot root; "" or "/" for the whole snapshot. */
  readonly path: string;
  readonly filter?: SnapshotFilter;
  /** stdout is a terminal: a tar stream would only garble it, so a directory is refused. */
  readonly toTerminal?: boolean;
}

export async function runDump(
  context: CommandContext,
  options: DumpOptions,
): Promise<"file" | "tar"> {
  return withRepository(
    context,
    options.repository,
    async ({ repo, snapshots }) => {
      const snapshot = selectSnapshot(
        snapshots,
        options.snapshot,
        options.filter ?? NO_FILTER,
      );
      const found = await findEntry(repo, snapshot.tree, options.path);
      const { output } = context;
      if (found.entry?.type === "file") {
        await streamFileAhead(repo, found.entry, (chunk) =>
          output.write(chunk),
        );
        return "file";
      }
      if (found.tree === undefined)
        throw new BlindsyncError(
          "usage",
          `"${options.path}" is a ${found.entry?.type ?? "special file"}: dump writes files and directories`,
        );
      if (options.toTerminal === true)
        throw new BlindsyncError(
          "usage",
          `"${options.path === "" ? "/" : options.path}" is a directory, and its tar stream would garble the terminal`,
          {
            hint: `Send it to a file or a program: blindsync dump ... > archive.tar, or ... | tar -x`,
          },
        );
      const name = pathComponents(options.path).at(-1);
      await dumpTree(
        repo,
        found.tree,
        name === undefined || found.entry === undefined
          ? undefined
          : { name, entry: found.entry },
        {
          write: (chunk) => output.write(chunk),
          skipped: (path, type) => {
            output.warn(
              `Left out "${displayPath(path)}": a ${type} has no place in this tar stream`,
            );
          },
        },
      );
      return "tar";
    },
  );
}

export function dumpCommand(): Command {
  const command = new Command("dump")
    .description(
      "write a file from a snapshot to stdout, or a directory as a tar archive",
    )
    .argument("<repo>", "the repository")
    .argument("<snapshot>", 'a snapshot id, unique prefix or "latest"')
    .argument(
      "<path>",
      'the file or directory inside the snapshot ("/" for all of it)',
    );
  return addFilterOptions(command, 'pick "latest" among')
    .addHelpText(
      "after",
      `
A file is written as it is; a directory as a POSIX (pax) tar archive whose entries start
with the directory's own name (the whole snapshot, "/": its contents at the top), keeping
modes, owners, nanosecond mtimes, symlinks and hardlinks. Every file is checked against its
recorded checksum as it streams: on a mismatch dump stops with exit 13, after the bytes already
written. A directory is not written to a terminal.

${FILTER_RULES}
They choose "latest"; a snapshot named by id is taken as named.

Examples:
  blindsync dump me@host:vault latest notes/todo.txt > todo.txt
  blindsync dump me@host:vault latest projects/site | tar -x -C /tmp
  blindsync dump me@host:vault 1a2b3c4d / | gzip > snapshot.tar.gz
  blindsync dump me@host:vault latest db.sql --host server | psql mydb`,
    )
    .action(
      async (
        repository: string,
        snapshot: string,
        path: string,
        flags: FilterOptionValues,
        command: Command,
      ) => {
        const context = contextOf(command);
        // Its only product is stdout: once the reader has gone (`| head -c1`), stop, exit 0.
        await runDump(
          { ...context, output: endWhenReaderGone(context.output) },
          {
            repository,
            snapshot,
            path,
            filter: filterOf(flags),
            toTerminal: process.stdout.isTTY,
          },
        );
      },
    );
}
