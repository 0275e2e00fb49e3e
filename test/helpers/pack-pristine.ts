/**
 * A pristine pack directory to damage copies of: three backups through the built CLI, each
 * adding one folder of single-chunk files, so the repository holds three data packs, three
 * tree packs and three index segments (one of each per backup) and every blob belongs to
 * exactly one file. Each round copies it to a new path, which a client sees as a repository it
 * never met (its cache is keyed by the path) unless the round's own cache looked first.
 */
import { cpSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "vitest";
import { runCli, type CliResult } from "./cli.js";
import {
  packsOf,
  readPackLayout,
  segmentsOf,
  type PackFile,
  type PackLayout,
  type SegmentFile,
} from "./pack-files.js";
import { seededBytes } from "./prng.js";
import { describeTree, type Described } from "./trees.js";

export const FOLDERS = ["one", "two", "three"] as const;
const FILES_PER_FOLDER = 4;

export interface PristinePacks {
  readonly source: string;
  readonly repo: string;
  readonly layout: PackLayout;
  readonly sourceTree: Map<string, Described>;
  /** The data pack and tree pack written by each backup, in backup order. */
  readonly dataPacks: readonly PackFile[];
  readonly treePacks: readonly PackFile[];
  /** The segment each backup wrote, in backup order. */
  readonly segments: readonly SegmentFile[];
}

export interface PackRound {
  readonly dir: string;
  readonly repo: string;
  /** The round's client, which meets the copy first after any damage unless told otherwise. */
  readonly cacheDir: string;
  readonly cli: (
    args: readonly string[],
    cacheDir?: string,
  ) => Promise<CliResult>;
}

/** Which backup (0, 1, 2) wrote a pack: the folder its first blob's file is in. */
function backupOf(pack: PackFile, layout: PackLayout): number {
  const blob = pack.blobs[0];
  const users =
    blob === undefined
      ? []
      : (layout.dataUsers.get(blob.id) ?? layout.treeUsers.get(blob.id) ?? []);
  if (pack.kind === "tree") {
    // A backup's tree pack holds its new folder's tree and a new root.
    const folder = pack.blobs
      .flatMap((entry) => layout.treeUsers.get(entry.id) ?? [])
      .find((path) => path !== "");
    return FOLDERS.indexOf(folder as (typeof FOLDERS)[number]);
  }
  return FOLDERS.indexOf(
    (users[0]?.split("/")[0] ?? "") as (typeof FOLDERS)[number],
  );
}

export async function pristinePacks(work: string): Promise<PristinePacks> {
  const source = join(work, "source");
  const repo = join(work, "pristine");
  const cacheDir = join(work, "pristine-cache");
  const cli = (args: readonly string[]) => runCli(args, { cacheDir });
  const init = await cli(["init", "--packs", repo]);
  expect(init.code, init.stderr).toBe(0);
  for (const [index, folder] of FOLDERS.entries()) {
    await mkdir(join(source, folder), { recursive: true });
    for (let file = 0; file < FILES_PER_FOLDER; file++)
      await writeFile(
        join(source, folder, `f${file}.bin`),
        seededBytes(100 * index + file, 20_000 + 1000 * file),
      );
    const backup = await cli(["backup", source, repo]);
    expect(backup.code, backup.stderr).toBe(0);
  }
  const layout = await readPackLayout(repo);
  const packs = packsOf(repo);
  const byBackup = (kind: "data" | "tree") =>
    packs
      .filter((pack) => pack.kind === kind)
      .sort((a, b) => backupOf(a, layout) - backupOf(b, layout));
  const dataPacks = byBackup("data");
  const treePacks = byBackup("tree");
  expect(dataPacks.map((pack) => backupOf(pack, layout))).toStrictEqual([
    0, 1, 2,
  ]);
  expect(treePacks.map((pack) => backupOf(pack, layout))).toStrictEqual([
    0, 1, 2,
  ]);
  const segments = FOLDERS.map((_, index) => {
    const segment = segmentsOf(repo).find((candidate) =>
      candidate.packs.includes(dataPacks[index]?.id ?? ""),
    );
    if (segment === undefined)
      throw new Error(`no segment for backup ${index}`);
    return segment;
  });
  expect(layout.dataUsers.size).toBe(FOLDERS.length * FILES_PER_FOLDER);
  return {
    source,
    repo,
    layout,
    sourceTree: describeTree(source),
    dataPacks,
    treePacks,
    segments,
  };
}

let rounds = 0;

/** A copy of the pristine pack directory at a new path, with a new client cache. */
export function newPackRound(work: string, pristine: PristinePacks): PackRound {
  rounds++;
  const dir = join(work, `round-${rounds}`);
  const repo = join(dir, "repo");
  cpSync(pristine.repo, repo, { recursive: true });
  const cacheDir = join(dir, "cache");
  return {
    dir,
    repo,
    cacheDir,
    cli: (args, cache = cacheDir) => runCli(args, { cacheDir: cache }),
  };
}

/** The file paths that use each of `ids` (data blobs) or the folders that are (trees). */
export function usersOf(layout: PackLayout, id: string): string[] {
  const users = layout.dataUsers.get(id) ?? layout.treeUsers.get(id);
  if (users === undefined) throw new Error(`unknown blob ${id}`);
  return users;
}
