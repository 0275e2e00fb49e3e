/** `snapshots`, `ls`, `cat` and `diff`: reading a repository without restoring it. */
import { Command } from "commander";
import { BlindsyncError } from "../../errors.js";
import {
  diffTrees,
  findEntry,
  listTree,
  streamFile,
} from "../../engine/index.js";
import {
  resolveSnapshot,
  type Snapshot,
  type TreeEntry,
} from "../../repo/index.js";
import { toHex } from "../../util/bytes.js";
import { withRepository, type CommandContext } from "../context.js";
import { displayPath, formatBytes } from "../output/format.js";
import { endWhenReaderGone } from "../output/output.js";
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
  };
}

export async function runSnapshots(
  context: CommandContext,
  repository: string,
): Promise<Snapshot[]> {
  return withRepository(context, repository, ({ snapshots }) => {
    const { output } = context;
    if (output.json) {
      output.jsonLine(snapshots.map(snapshotJson));
      return Promise.resolve(snapshots);
    }
    if (snapshots.length === 0) output.line("No snapshots yet");
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

function typeLetter(entry: TreeEntry): string {
  return entry.type === "dir" ? "d" : entry.type === "symlink" ? "l" : "-";
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
  return `${typeLetter(entry)}${modeString(entry.mode)} ${String(entry.uid).padStart(5)} ${String(entry.gid).padStart(5)} ${String(size).padStart(12)} ${time}  ${displayPath(path)}${link}`;
}

export interface LsOptions {
  readonly repository: string;
  readonly path?: string;
  readonly snapshot?: string;
  readonly long?: boolean;
}

export async function runLs(
  context: CommandContext,
  options: LsOptions,
): Promise<void> {
  await withRepository(
    context,
    options.repository,
    async ({ repo, snapshots }) => {
      const snapshot = resolveSnapshot(snapshots, options.snapshot ?? "latest");
      const path = options.path ?? "";
      const found = await findEntry(repo, snapshot.tree, path);
      const { output } = context;
      const print = (listed: { path: Buffer; entry: TreeEntry }): void => {
        if (output.json) {
          output.jsonLine({
            path: displayPath(listed.path),
            type: listed.entry.type,
            mode: listed.entry.mode,
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
  options: { repository: string; path: string; snapshot?: string },
): Promise<void> {
  await withRepository(
    context,
    options.repository,
    async ({ repo, snapshots }) => {
      const snapshot = resolveSnapshot(snapshots, options.snapshot ?? "latest");
      const { entry } = await findEntry(repo, snapshot.tree, options.path);
      if (entry?.type !== "file")
        throw new BlindsyncError("usage", `"${options.path}" is not a file`);
      await streamFile(repo, entry, (chunk) => context.output.write(chunk));
    },
  );
}

export async function runDiff(
  context: CommandContext,
  options: { repository: string; before: string; after: string },
): Promise<number> {
  return withRepository(
    context,
    options.repository,
    async ({ repo, snapshots }) => {
      const before = resolveSnapshot(snapshots, options.before);
      const after = resolveSnapshot(snapshots, options.after);
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
  const snapshots = new Command("snapshots")
    .description("list the snapshots, oldest first")
    .argument("<repo>", "the repository")
    .addHelpText(
      "after",
      "\nWith --json: an array of {id, time, host, paths, tags, seq, files, bytes}.",
    )
    .action(async (repository: string, _flags: unknown, command: Command) => {
      await runSnapshots(listingContext(command), repository);
    });
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
    .option("-l, --long", "show type, mode, owner, size and mtime")
    .action(
      async (
        repository: string,
        path: string | undefined,
        flags: { snapshot: string; long?: boolean },
        command: Command,
      ) => {
        await runLs(listingContext(command), {
          repository,
          snapshot: flags.snapshot,
          long: flags.long === true,
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
    )
    .action(
      async (
        repository: string,
        path: string,
        flags: { snapshot: string },
        command: Command,
      ) => {
        await runCat(listingContext(command), {
          repository,
          path,
          snapshot: flags.snapshot,
        });
      },
    );
  const diff = new Command("diff")
    .description(
      "show what changed between two snapshots (+ added, - removed, M modified)",
    )
    .argument("<repo>", "the repository")
    .argument("<id1>", "the older snapshot")
    .argument("<id2>", "the newer snapshot")
    .action(
      async (
        repository: string,
        before: string,
        after: string,
        _flags: unknown,
        command: Command,
      ) => {
        await runDiff(listingContext(command), { repository, before, after });
      },
    );
  return [snapshots, ls, cat, diff];
}
