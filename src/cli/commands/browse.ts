/**
 * `snapshots`, `ls`, `cat` and `diff`: reading a repository without restoring it.
 *
 * Length: over 400 lines with one job, the four read-only browsing commands, each a run*
 * function, its output and its --help; they share the snapshot selection and the path lookup.
 */
import { Command } from "commander";
import { BlindsyncError, isBlindsyncError } from "../../errors.js";
import {
  diffTrees,
  findEntry,
  listTree,
  streamFile,
} from "../../engine/index.js";
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
import { contextOf } from "./shared.js";

/**
 * These commands exist for their output: once its reader has gone (`| head`), they stop at
 * the next print and exit 0 instead of reading the rest of the repository for nobody.
 */
function listingContext(command: Command): CommandContext {
  const context = contextOf(command);
  return { ...context, output: endWhenReaderGone(context.output) };
}

export function snapshotJson(snapshot: Snapshot): Record<string, unknown> {
  return {
    id: toHex(snapshot.id),
    tree: toHex(snapshot.tree),
    time: snapshot.time,
    host: snapshot.host,
    paths: snapshot.paths,
    tags: snapshot.tags,
    seq: snapshot.seq,
    files: snapshot.stats.files,
    bytes: snapshot.stats.bytes,
    // A copied snapshot names the one it was copied from (restic's `original`).
    ...(snapshot.original === undefined
      ? {}
      : { original: toHex(snapshot.original) }),
  };
}

export async function runSnapshots(
  context: CommandContext,
  repository: string,
  filter: SnapshotFilter = NO_FILTER,
): Promise<Snapshot[]> {
  return withRepository(context, repository, ({ snapshots: all }) => {
    const { output } = context;
    const snapshots = all.filter((snapshot) => matchesFilter(filter, snapshot));
    if (output.json) {
      output.jsonLine(snapshots.map(snapshotJson));
      return Promise.resolve(snapshots);
    }
    if (all.length === 0) output.line("No snapshots yet");
    else if (snapshots.length === 0) output.line("No snapshot matches");
    for (const snapshot of snapshots) {
      const tags =
        snapshot.tags.length > 0 ? `  [${snapshot.tags.join(", ")}]` : "";
      output.line(
        `${toHex(snapshot.id).slice(0, 8)}  ${snapshot.time.replace("T", " ").replace(/\.\d+Z$/, "Z")}  ${snapshot.host}  ` +
          `${String(snapshot.stats.files).padStart(7)} files  ${formatBytes(snapshot.stats.bytes).padStart(10)}  ${snapshot.paths.join(", ")}${tags}`,
      );
    }
    return Promise.resolve(snapshots);
  });
}

const TYPE_LETTERS = { file: "-", dir: "d", symlink: "l", fifo: "p" } as const;

function typeLetter(entry: TreeEntry): string {
  return TYPE_LETTERS[entry.type];
}

function modeString(mode: number): string {
  const bits = "rwxrwxrwx";
  let text = "";
  for (let index = 0; index < 9; index++)
    text += mode & (1 << (8 - index)) ? bits.charAt(index) : "-";
  return text;
}

function describeEntry(path: Buffer, entry: TreeEntry): string {
  const size = entry.type === "file" ? entry.size : 0;
  const time = new Date(Number(entry.mtimeNs / 1_000_000n))
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "");
  const link =
    entry.type === "symlink" ? ` -> ${displayPath(entry.target)}` : "";
  // Names where the backup resolved them (trees of format 2), numbers otherwise, as ls -l.
  const user = entry.user ?? String(entry.uid);
  const group = entry.group ?? String(entry.gid);
  return `${typeLetter(entry)}${modeString(entry.mode)} ${user.padEnd(8)} ${group.padEnd(8)} ${String(size).padStart(12)} ${time}  ${displayPath(path)}${link}`;
}

export interface LsOptions {
  readonly repository: string;
  readonly path?: string;
  readonly snapshot?: string;
  readonly long?: boolean;
  readonly filter?: SnapshotFilter;
}

export async function runLs(
  context: CommandContext,
  options: LsOptions,
): Promise<void> {
  await withRepository(
    context,
    options.repository,
    async ({ repo, snapshots }) => {
      const snapshot = selectSnapshot(
        snapshots,
        options.snapshot ?? "latest",
        options.filter ?? NO_FILTER,
      );
      const path = options.path ?? "";
      const found = await findNamedPath(repo, snapshot, snapshots, path, "ls");
      const { output } = context;
      const print = (listed: { path: Buffer; entry: TreeEntry }): void => {
        if (output.json) {
          output.jsonLine({
            path: displayPath(listed.path),
            type: listed.entry.type,
            mode: listed.entry.mode,
            uid: listed.entry.uid,
            gid: listed.entry.gid,
            ...(listed.entry.user === undefined
              ? {}
              : { user: listed.entry.user }),
            ...(listed.entry.group === undefined
              ? {}
              : { group: listed.entry.group }),
            size: listed.entry.type === "file" ? listed.entry.size : 0,
            mtime: new Date(
              Number(listed.entry.mtimeNs / 1_000_000n),
            ).toISOString(),
          });
        } else {
          output.line(
            options.long === true
              ? describeEntry(listed.path, listed.entry)
              : displayPath(listed.path),
          );
        }
      };
      if (found.tree === undefined) {
        if (found.entry !== undefined)
          print({
            path: Buffer.from(path.replace(/^\/+|\/+$/g, "")),
            entry: found.entry,
          });
        return;
      }
      const prefix = Buffer.from(
        path
          .split("/")
          .filter((part) => part !== "" && part !== ".")
          .join("/"),
      );
      for await (const listed of listTree(repo, found.tree, prefix))
        print(listed);
    },
  );
}

export async function runCat(
  context: CommandContext,
  options: {
    repository: string;
    path: string;
    snapshot?: string;
    filter?: SnapshotFilter;
  },
): Promise<void> {
  await withRepository(
    context,
    options.repository,
    async ({ repo, snapshots }) => {
      const snapshot = selectSnapshot(
        snapshots,
        options.snapshot ?? "latest",
        options.filter ?? NO_FILTER,
      );
      const { entry } = await findNamedPath(
        repo,
        snapshot,
        snapshots,
        options.path,
        "cat",
      );
      if (entry?.type !== "file")
        throw new BlindsyncError("usage", `"${options.path}" is not a file`);
      await streamFile(repo, entry, (chunk) => context.output.write(chunk));
    },
  );
}

export async function runDiff(
  context: CommandContext,
  options: {
    repository: string;
    before: string;
    after: string;
    filter?: SnapshotFilter;
  },
): Promise<number> {
  return withRepository(
    context,
    options.repository,
    async ({ repo, snapshots }) => {
      const filter = options.filter ?? NO_FILTER;
      const before = selectSnapshot(snapshots, options.before, filter);
      const after = selectSnapshot(snapshots, options.after, filter);
      let changes = 0;
      const marks = { added: "+", removed: "-", modified: "M" } as const;
      for await (const change of diffTrees(repo, before.tree, after.tree)) {
        changes++;
        const shown =
          displayPath(change.path) + (change.entry.type === "dir" ? "/" : "");
        if (context.output.json)
          context.output.jsonLine({
            change: change.kind,
            path: shown,
            type: change.entry.type,
          });
        else context.output.line(`${marks[change.kind]} ${shown}`);
      }
      return changes;
    },
  );
}

export function browseCommands(): Command[] {
  const snapshots = addFilterOptions(
    new Command("snapshots")
      .description("list the snapshots, oldest first")
      .argument("<repo>", "the repository"),
    "list",
  )
    .addHelpText(
      "after",
      `
With --json: an array of {id, time, host, paths, tags, seq, files, bytes}.

${FILTER_RULES}

Examples:
  blindsync snapshots me@host:vault
  blindsync snapshots me@host:vault --host laptop --path ~/Documents
  blindsync snapshots me@host:vault --tag daily,home --tag manual --json`,
    )
    .action(
      async (
        repository: string,
        flags: FilterOptionValues,
        command: Command,
      ) => {
        await runSnapshots(
          listingContext(command),
          repository,
          filterOf(flags),
        );
      },
    );
  const ls = new Command("ls")
    .description("list files in a snapshot")
    .argument("<repo>", "the repository")
    .argument(
      "[path]",
      "a directory or file inside the snapshot (default: everything)",
    )
    .option(
      "-s, --snapshot <id>",
      'snapshot id, unique prefix or "latest"',
      "latest",
    )
    .option("-l, --long", "show type, mode, owner, size and mtime");
  addFilterOptions(ls, 'pick "latest" among')
    .addHelpText(
      "after",
      `
${FILTER_RULES}
They choose "latest"; a snapshot named by id is taken as named.

Examples:
  blindsync ls me@host:vault notes -l
  blindsync ls me@host:vault --host laptop --path ~/Documents`,
    )
    .action(
      async (
        repository: string,
        path: string | undefined,
        flags: { snapshot: string; long?: boolean } & FilterOptionValues,
        command: Command,
      ) => {
        await runLs(listingContext(command), {
          repository,
          snapshot: flags.snapshot,
          long: flags.long === true,
          filter: filterOf(flags),
          ...(path === undefined ? {} : { path }),
        });
      },
    );
  const cat = new Command("cat")
    .description("print a file's content from a snapshot")
    .argument("<repo>", "the repository")
    .argument("<path>", "the file inside the snapshot")
    .option(
      "-s, --snapshot <id>",
      'snapshot id, unique prefix or "latest"',
      "latest",
    );
  addFilterOptions(cat, 'pick "latest" among')
    .addHelpText(
      "after",
      `
${FILTER_RULES}
They choose "latest"; a snapshot named by id is taken as named.

Examples:
  blindsync cat me@host:vault notes/todo.txt
  blindsync cat me@host:vault todo.txt --host laptop --tag daily > todo.txt`,
    )
    .action(
      async (
        repository: string,
        path: string,
        flags: { snapshot: string } & FilterOptionValues,
        command: Command,
      ) => {
        await runCat(listingContext(command), {
          repository,
          path,
          snapshot: flags.snapshot,
          filter: filterOf(flags),
        });
      },
    );
  const diff = new Command("diff")
    .description(
      "show what changed between two snapshots (+ added, - removed, M modified)",
    )
    .argument("<repo>", "the repository")
    .argument("<id1>", "the older snapshot")
    .argument("<id2>", "the newer snapshot");
  addFilterOptions(diff, 'pick "latest" among')
    .addHelpText(
      "after",
      `
${FILTER_RULES}
They choose "latest" (for either id); a snapshot named by id is taken as named.

Examples:
  blindsync diff me@host:vault 1a2b3c4d latest
  blindsync diff me@host:vault 1a2b3c4d latest --host laptop --path ~/Documents`,
    )
    .action(
      async (
        repository: string,
        before: string,
        after: string,
        flags: FilterOptionValues,
        command: Command,
      ) => {
        await runDiff(listingContext(command), {
          repository,
          before,
          after,
          filter: filterOf(flags),
        });
      },
    );
  return [snapshots, ls, cat, diff];
}

/**
 * findEntry for a path the user typed after REPO. A path that is not in the snapshot but names
 * a snapshot ("latest", or a prefix of an id) was most likely meant as one, as restic's
 * `ls latest` takes it: the error says how to name a snapshot here.
 */
async function findNamedPath(
  repo: Parameters<typeof findEntry>[0],
  snapshot: Snapshot,
  snapshots: readonly Snapshot[],
  path: string,
  command: "ls" | "cat",
): ReturnType<typeof findEntry> {
  try {
    return await findEntry(repo, snapshot.tree, path);
  } catch (error) {
    const namesSnapshot =
      path === "latest" ||
      (/^[0-9a-f]{4,64}$/.test(path) &&
        snapshots.some((candidate) => toHex(candidate.id).startsWith(path)));
    if (!isBlindsyncError(error, "not-found") || !namesSnapshot) throw error;
    throw new BlindsyncError("not-found", error.message, {
      hint: `To pick a snapshot, name it with --snapshot: blindsync ${command} --snapshot ${path} REPO${command === "cat" ? " PATH" : " [PATH]"}`,
    });
  }
}
