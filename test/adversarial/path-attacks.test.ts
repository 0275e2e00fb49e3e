/**
 * T11: restore path attacks through the real CLI and a real repository. Every hostile tree
 * here is validly encrypted under the repository's key (a client holding the key can write any
 * tree), is stored in a SQLite repository made by Repository.create, and is restored by the
 * built `blindsync restore`. After each case a hashed sentinel tree beside the target (and the
 * directory holding both) must be unchanged: zero bytes written, changed or deleted outside.
 *
 * src/engine/restore.test.ts covers the same rules in-process with the tree decoder bypassed;
 * here the whole product path runs: decoder, CLI, exit codes.
 */
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Repository } from "../../src/repo/index.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { toHex } from "../../src/util/bytes.js";
import { type CliResult, runCli } from "../helpers/cli.js";
import {
  putRawTree,
  type RawEntry,
  type RawFile,
  saveCraftedSnapshot,
} from "../helpers/craft.js";
import { treeHash } from "../helpers/files.js";
import { createRepository } from "../helpers/repositories.js";
import { removeDir, tempDir } from "../helpers/trees.js";

let work: string;
let repoDir: string;
let store: SqliteStore;
let repo: Repository;
let head: { seq: number; id: Uint8Array } | undefined;
let clock = Date.parse("2026-01-01T00:00:00Z");

/** Per case: base/ holds the restore target and the sentinel tree `outside` beside it. */
let base: string;
let target: string;
let outside: string;

beforeAll(async () => {
  work = await tempDir("blindsync-t11-");
  repoDir = join(work, "repo");
  ({ store, repo } = await createRepository(repoDir));
});

afterAll(async () => {
  await store.close();
  await removeDir(work);
});

beforeEach(async () => {
  base = await fsp.mkdtemp(join(work, "case-"));
  target = join(base, "target");
  outside = join(base, "outside");
  await fsp.mkdir(target);
  await fsp.mkdir(join(outside, "sub"), { recursive: true });
  await fsp.writeFile(join(outside, "victim"), "outside data\n");
  await fsp.writeFile(join(outside, "sub", "deep"), "deep outside data\n");
  await fsp.symlink("victim", join(outside, "link-to-victim"));
  await fsp.chmod(join(outside, "victim"), 0o640);
});

/** Stores a crafted root tree as the new head snapshot and returns its id (hex). */
async function snapshotOf(entries: readonly RawEntry[]): Promise<string> {
  const tree = await putRawTree(repo, entries);
  clock += 60_000;
  head = await saveCraftedSnapshot(repo, tree, head, new Date(clock));
  return toHex(head.id);
}

async function restoreCli(
  snapshot: string,
  extra: readonly string[] = [],
): Promise<CliResult> {
  return runCli(
    ["restore", repoDir, target, "--snapshot", snapshot, ...extra],
    { cacheDir: join(work, "cache") },
  );
}

/**
 * Runs `restore` and checks the sentinel: `outside` and the directory holding it and the target
 * hash the same before and after (names, modes, sizes, mtimes, inodes, link counts, contents).
 */
async function attack(
  snapshot: string,
  extra: readonly string[] = [],
): Promise<CliResult> {
  const before = await treeHash(base, ["target"]);
  const result = await restoreCli(snapshot, extra);
  expect(await treeHash(base, ["target"]), result.stderr).toBe(before);
  expect(await fsp.readFile(join(outside, "victim"), "utf8")).toBe(
    "outside data\n",
  );
  return result;
}

const file = (
  name: string | Uint8Array,
  data: string,
  extra: Partial<RawFile> = {},
): RawFile => ({ ...extra, type: "file", name, data });
const link = (name: string, linkTarget: string): RawEntry => ({
  type: "symlink",
  name,
  target: linkTarget,
});
const dir = async (
  name: string | Uint8Array,
  children: readonly RawEntry[],
): Promise<RawEntry> => ({
  type: "dir",
  name,
  subtree: await putRawTree(repo, children),
});

/** The hostile entry sits in directory "evil" next to a harmless file, so restore goes on. */
async function hostileDirectory(entries: readonly RawEntry[]): Promise<string> {
  return snapshotOf([
    await dir("evil", entries),
    file("good.txt", "restored fine\n"),
  ]);
}

async function listTarget(): Promise<string[]> {
  return (await fsp.readdir(target, { recursive: true })).sort();
}

describe("restore path attacks through the CLI and a real repository (T11)", () => {
  it("case 1: an entry named '..' holding a file is refused and nothing lands above the target", async () => {
    const id = await hostileDirectory([
      await dir("..", [file("victim", "overwritten via ..\n")]),
    ]);
    const result = await attack(id);
    expect(result.code, result.stderr).toBe(13);
    expect(result.stderr).toMatch(/evil/);
    expect(await listTarget()).toEqual(["good.txt"]);
  });

  it("case 2: an entry named '.' is refused", async () => {
    const id = await hostileDirectory([
      await dir(".", [file("good.txt", "replaced via .\n")]),
    ]);
    const result = await attack(id);
    expect(result.code, result.stderr).toBe(13);
    expect(await fsp.readFile(join(target, "good.txt"), "utf8")).toBe(
      "restored fine\n",
    );
  });

  it("case 3: an entry with an empty name is refused", async () => {
    const id = await hostileDirectory([file("", "empty name\n")]);
    const result = await attack(id);
    expect(result.code, result.stderr).toBe(13);
    expect(await listTarget()).toEqual(["good.txt"]);
  });

  it("case 4: a name '../../outside/victim' (with slashes) is refused", async () => {
    const id = await hostileDirectory([
      file("../../outside/victim", "overwritten via ../\n"),
    ]);
    const result = await attack(id);
    expect(result.code, result.stderr).toBe(13);
    expect(await listTarget()).toEqual(["good.txt"]);
  });

  it("case 5: an absolute name naming the sentinel file is refused", async () => {
    const id = await hostileDirectory([
      file(join(outside, "victim"), "overwritten via an absolute name\n"),
    ]);
    const result = await attack(id);
    expect(result.code, result.stderr).toBe(13);
    expect(await listTarget()).toEqual(["good.txt"]);
  });

  it("case 6: a name 'a/../../x' and a name holding a NUL byte are refused", async () => {
    const id = await hostileDirectory([
      file("a/../../x", "dot-dot inside a name\n"),
      file(Buffer.from("victim\0.txt"), "nul in a name\n"),
    ]);
    const result = await attack(id);
    expect(result.code, result.stderr).toBe(13);
    expect(await listTarget()).toEqual(["good.txt"]);
    await expect(fsp.lstat(join(base, "x"))).rejects.toThrow();
  });

  it("case 7: one tree with a symlink d -> outside and a directory d/victim (duplicate names) is refused", async () => {
    const id = await snapshotOf([
      link("d", outside),
      await dir("d", [file("victim", "written through the link\n")]),
      file("good.txt", "restored fine\n"),
    ]);
    const result = await attack(id);
    // The root tree itself is malformed: nothing of it can be trusted, so nothing is restored.
    expect(result.code, result.stderr).toBe(13);
    expect(result.stderr).toMatch(/malformed|unsorted|sorted/i);
    expect(await listTarget()).toEqual([]);
  });

  it("case 8: a symlinked parent restored by one snapshot is not followed by the next one's d/victim", async () => {
    const first = await snapshotOf([link("d", outside)]);
    const second = await snapshotOf([
      await dir("d", [
        file("new", "planted outside\n"),
        file("victim", "written through the link\n"),
      ]),
    ]);
    expect((await attack(first)).code).toBe(0);
    expect(await fsp.readlink(join(target, "d"))).toBe(outside);
    const result = await attack(second);
    // Refused for what the target holds, not for damaged data: exit 1, not 13 (issue 21).
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/symlink/);
    expect(await fsp.readlink(join(target, "d"))).toBe(outside);
    // With --delete the link itself is replaced by a real directory, never followed.
    const replaced = await attack(second, ["--delete"]);
    expect(replaced.code, replaced.stderr).toBe(0);
    expect((await fsp.lstat(join(target, "d"))).isDirectory()).toBe(true);
    expect(await fsp.readFile(join(target, "d", "victim"), "utf8")).toBe(
      "written through the link\n",
    );
  });

  it("case 9: symlinks planted in the target before restore (at a directory and at a file) are never written through", async () => {
    await fsp.symlink(outside, join(target, "d"));
    await fsp.symlink(join(outside, "victim"), join(target, "f"));
    await fsp.symlink(join(outside, "sub"), join(target, "s"));
    const id = await snapshotOf([
      await dir("d", [file("victim", "written through a planted link\n")]),
      file("f", "restored over the link\n"),
      link("s", "somewhere-else"),
    ]);
    const result = await attack(id);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/Refusing to restore directory "d"/);
    expect(await fsp.readlink(join(target, "d"))).toBe(outside);
    expect((await fsp.lstat(join(target, "f"))).isFile()).toBe(true);
    expect(await fsp.readFile(join(target, "f"), "utf8")).toBe(
      "restored over the link\n",
    );
    expect(await fsp.readlink(join(target, "s"))).toBe("somewhere-else");
  });

  it("case 10: a hardlink to an outside file planted at a file's name is replaced, not written into", async () => {
    await fsp.link(join(outside, "victim"), join(target, "h"));
    await fsp.link(join(outside, "sub", "deep"), join(target, "same"));
    const deep = await fsp.stat(join(outside, "sub", "deep"), { bigint: true });
    const id = await snapshotOf([
      file("h", "new content for h\n", { mode: 0o777 }),
      // Same size, content and mtime as the outside file: the in-place "identical" shortcut
      // must not chmod it (the mode here differs) through the shared inode.
      file("same", "deep outside data\n", {
        mode: 0o600,
        mtimeNs: deep.mtimeNs,
      }),
    ]);
    const result = await attack(id);
    expect(result.code, result.stderr).toBe(0);
    expect(await fsp.readFile(join(target, "h"), "utf8")).toBe(
      "new content for h\n",
    );
    const [h, victim] = await Promise.all([
      fsp.stat(join(target, "h")),
      fsp.stat(join(outside, "victim")),
    ]);
    expect(h.ino).not.toBe(victim.ino);
    expect((await fsp.stat(join(target, "same"))).ino).not.toBe(deep.ino);
  });

  it("case 11: a snapshot hardlink key naming an outside file's (dev, ino) links nothing outside", async () => {
    const victim = await fsp.stat(join(outside, "victim"), { bigint: true });
    const hardlink = { dev: victim.dev, ino: victim.ino };
    const id = await snapshotOf([
      file("a", "first of a hostile pair\n", { hardlink }),
      file("b", "outside data\n", { hardlink }),
    ]);
    const result = await attack(id);
    expect(result.code, result.stderr).toBe(0);
    for (const name of ["a", "b"]) {
      const stats = await fsp.stat(join(target, name), { bigint: true });
      expect(stats.ino).not.toBe(victim.ino);
    }
    expect(await fsp.readFile(join(target, "b"), "utf8")).toBe(
      "outside data\n",
    );
  });

  it("case 12: --delete removes planted links and extras without following them out of the target", async () => {
    await fsp.symlink(outside, join(target, "escape"));
    await fsp.symlink(join(outside, "victim"), join(target, "escape-file"));
    await fsp.symlink(join(outside, "sub"), join(target, "keep"));
    await fsp.mkdir(join(target, "extra"));
    await fsp.symlink(outside, join(target, "extra", "up"));
    await fsp.writeFile(join(target, "extra", "junk"), "junk\n");
    const id = await snapshotOf([
      file("good.txt", "restored fine\n"),
      await dir("keep", [file("only", "the only entry\n")]),
    ]);
    const result = await attack(id, ["--delete"]);
    expect(result.code, result.stderr).toBe(0);
    expect(await listTarget()).toEqual(["good.txt", "keep", "keep/only"]);
    expect((await fsp.lstat(join(target, "keep"))).isDirectory()).toBe(true);
    expect(await fsp.readdir(join(outside, "sub"))).toEqual(["deep"]);
  });
});
