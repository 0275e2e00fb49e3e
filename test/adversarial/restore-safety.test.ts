/**
 * Restores that must not destroy (issue 17, items 2 and 3, and the tree bound of item 10),
 * through the built CLI with real repositories, caches and directories:
 *
 * - `restore --delete` into a directory that holds the repository, or the client cache, keeps
 *   them: the repository still checks clean and restores, the cache is still there;
 * - the short form `blindsync REPO TARGET` into a non-empty directory changes nothing (names,
 *   contents and mtimes compared) and exits 2 naming `blindsync restore`; two repositories
 *   exit 2 naming both; two plain directories exit 10 saying how to create the second;
 * - a forged snapshot whose trees all name one subtree (2^40 directories from 41 small trees)
 *   stops with exit 13 after work linear in what was stored.
 */
import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlobId } from "../../src/store/index.js";
import { CLI, type CliResult, PROJECT_ROOT, runCli } from "../helpers/cli.js";
import { DATABASE_FILE, TEST_PASSWORD } from "../helpers/constants.js";
import { putRawTree, saveCraftedSnapshot } from "../helpers/craft.js";
import { databaseOf } from "../helpers/database.js";
import { treeHash } from "../helpers/files.js";
import { createRepository } from "../helpers/repositories.js";
import {
  describeTree,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";

let work: string;
let cacheDir: string;

beforeAll(async () => {
  work = await tempDir("blindsync-restore-safety-");
  cacheDir = join(work, "cache");
});

afterAll(async () => {
  await removeDir(work);
});

const cli = (...args: string[]): Promise<CliResult> =>
  runCli(args, { cacheDir });

/** A small source tree: the snapshot that every case restores. */
async function makeSource(root: string): Promise<string> {
  await fsp.mkdir(join(root, "sub"), { recursive: true });
  await fsp.writeFile(join(root, "a.txt"), "old a\n");
  await fsp.writeFile(join(root, "sub", "b.txt"), "old b\n");
  return root;
}

/** `init` then a backup of a fresh source into `repo`; returns the source. */
async function repositoryWithBackup(repo: string): Promise<string> {
  const source = await makeSource(await fsp.mkdtemp(join(work, "src-")));
  const init = await cli("init", repo);
  expect(init.code, init.stderr).toBe(0);
  const backup = await cli("backup", source, repo);
  expect(backup.code, backup.stderr).toBe(0);
  return source;
}

/** The repository still works: `check` passes and a restore elsewhere is exact. */
async function expectUsable(repo: string, source: string): Promise<void> {
  const check = await cli("check", repo, "--read-data");
  expect(check.code, check.stderr).toBe(0);
  const again = join(await fsp.mkdtemp(join(work, "again-")), "out");
  const restore = await cli("restore", repo, again);
  expect(restore.code, restore.stderr).toBe(0);
  expect(treeDifferences(describeTree(source), describeTree(again))).toEqual(
    [],
  );
}

describe("restore --delete never deletes the repository or the cache", () => {
  it("keeps a repository inside the target (`restore usb/vault usb --delete`), which stays usable", async () => {
    const usb = join(work, "usb");
    const repo = join(usb, "vault");
    const source = await repositoryWithBackup(repo);
    await fsp.writeFile(join(usb, "stray.txt"), "not in the snapshot");
    const database = await fsp.stat(databaseOf(repo));

    const result = await cli("restore", repo, usb, "--delete");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Kept "vault": it is the repository/);
    expect((await fsp.readdir(usb)).sort()).toEqual(["a.txt", "sub", "vault"]);
    const after = await fsp.stat(databaseOf(repo));
    expect(after.ino).toBe(database.ino);
    await expectUsable(repo, source);
  });

  it("refuses to overwrite the repository with an old copy of it that the snapshot holds", async () => {
    const usb = join(work, "usb2");
    const repo = join(usb, "vault");
    await repositoryWithBackup(repo);
    // A backup of an old copy of the stick, repository included: restoring it onto the stick
    // would write the old database over the live one.
    const old = await makeSource(join(work, "old-stick"));
    await fsp.mkdir(join(old, "vault"));
    await fsp.copyFile(databaseOf(repo), join(old, "vault", DATABASE_FILE));
    const backup = await cli("backup", old, repo);
    expect(backup.code, backup.stderr).toBe(0);
    const live = await fsp.stat(databaseOf(repo));

    for (const flags of [[], ["--delete"]]) {
      const result = await cli("restore", repo, usb, ...flags);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /Refusing to restore "vault": it is the repository/,
      );
      expect(await fsp.readFile(join(usb, "a.txt"), "utf8")).toBe("old a\n");
      const list = await cli("snapshots", repo, "--json");
      expect(JSON.parse(list.stdout)).toHaveLength(2);
    }
    // Not renamed over: the same inode, still holding both snapshots (the copy had one).
    expect((await fsp.stat(databaseOf(repo))).ino).toBe(live.ino);
    const check = await cli("check", repo);
    expect(check.code, check.stderr).toBe(0);
  });

  it("keeps the client cache inside the target (`restore REPO ~ --delete`)", async () => {
    const home = join(work, "home");
    const cache = join(home, ".cache", "blindsync");
    const repo = join(work, "vault-cache");
    const source = await makeSource(join(work, "src-cache"));
    const withCache = (...args: string[]): Promise<CliResult> =>
      runCli(args, { cacheDir: cache });
    expect((await withCache("init", repo)).code).toBe(0);
    expect((await withCache("backup", source, repo)).code).toBe(0);
    const cacheFiles = (await fsp.readdir(cache, { recursive: true })).sort();
    expect(cacheFiles.length).toBeGreaterThan(0);

    const result = await withCache("restore", repo, home, "--delete");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Kept "\.cache\/blindsync"/);
    expect((await fsp.readdir(home)).sort()).toEqual([
      ".cache",
      "a.txt",
      "sub",
    ]);
    for (const name of cacheFiles)
      expect(await fsp.lstat(join(cache, name))).toBeTruthy();
    const check = await withCache("check", repo);
    expect(check.code, check.stderr).toBe(0);
  });

  it("refuses a target inside the repository's directory (exit 2), creating nothing", async () => {
    const repo = join(work, "vault-inside");
    await repositoryWithBackup(repo);
    const before = await fsp.readdir(repo);
    const result = await cli("restore", repo, join(repo, "restored"));
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/inside the repository/);
    expect(await fsp.readdir(repo)).toEqual(before);
  });
});

describe("the short forms never destroy", () => {
  it("`blindsync REPO TARGET` into a non-empty directory changes nothing and names `blindsync restore`", async () => {
    const repo = join(work, "vault-short");
    await repositoryWithBackup(repo);
    // Newer local work, as when `blindsync vault work` was meant as a backup of work.
    const workDir = join(work, "work");
    await makeSource(workDir);
    await fsp.writeFile(join(workDir, "a.txt"), "newer edit\n");
    await fsp.writeFile(join(workDir, "new.txt"), "only here\n");
    const before = await treeHash(workDir);

    for (const extra of [[], ["--delete"]]) {
      const result = await cli(repo, workDir, ...extra);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(`blindsync restore ${repo} ${workDir}`);
      expect(await treeHash(workDir)).toBe(before);
    }
    expect(await fsp.readFile(join(workDir, "a.txt"), "utf8")).toBe(
      "newer edit\n",
    );
  });

  it("`blindsync REPO TARGET` restores into a missing or an empty directory", async () => {
    const repo = join(work, "vault-short2");
    const source = await repositoryWithBackup(repo);
    const missing = join(work, "short-missing");
    const empty = join(work, "short-empty");
    await fsp.mkdir(empty);
    for (const target of [missing, empty]) {
      const result = await cli(repo, target);
      expect(result.code, result.stderr).toBe(0);
      expect(
        treeDifferences(describeTree(source), describeTree(target)),
      ).toEqual([]);
    }
  });

  it("`blindsync A B` with two repositories is a usage error naming both, and touches neither", async () => {
    const first = join(work, "vault-a");
    const second = join(work, "vault-b");
    await repositoryWithBackup(first);
    await repositoryWithBackup(second);
    const before = [await treeHash(first), await treeHash(second)];
    const result = await cli(first, second);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(first);
    expect(result.stderr).toContain(second);
    expect([await treeHash(first), await treeHash(second)]).toEqual(before);
  });

  it("`blindsync A B` with neither a repository exits 10, says how to create B and creates nothing", async () => {
    const source = await makeSource(join(work, "plain-src"));
    const missing = join(work, "no-repo-here");
    const result = await cli(source, missing);
    expect(result.code, result.stderr).toBe(10);
    expect(result.stderr).toContain(`No repository at "${missing}"`);
    expect(result.stderr).toContain(`blindsync init ${missing}`);
    expect(result.stderr).toContain(`backup --init ${source} ${missing}`);
    await expect(fsp.lstat(missing)).rejects.toThrow();
    // With --init the short form still backs up into a new repository.
    const init = await cli(source, missing, "--init");
    expect(init.code, init.stderr).toBe(0);
  });
});

/** Runs the CLI, killing it after `ms` (an unbounded restore must fail the test, not hang it). */
function runCliWithin(
  args: readonly string[],
  ms: number,
): Promise<CliResult & { killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        BLINDSYNC_PASSWORD: TEST_PASSWORD,
        BLINDSYNC_CACHE_DIR: cacheDir,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill("SIGKILL");
    }, ms);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (data: Buffer) => out.push(data));
    child.stderr.on("data", (data: Buffer) => err.push(data));
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code: code ?? -1,
        stdout: stdoutBytes.toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        stdoutBytes,
        killed,
      });
    });
  });
}

describe("restore bounds how far shared subtrees expand", () => {
  it("stops a forged tree whose entries all name one subtree (2^40 directories from 41 trees): exit 13", async () => {
    const repoDir = join(work, "vault-bomb");
    const { store, repo } = await createRepository(repoDir);
    try {
      let tree: BlobId = await putRawTree(repo, []);
      for (let level = 0; level < 40; level++) {
        tree = await putRawTree(repo, [
          { type: "dir", name: "a", subtree: tree },
          { type: "dir", name: "b", subtree: tree },
        ]);
      }
      await saveCraftedSnapshot(repo, tree, undefined, new Date());
    } finally {
      await store.close();
    }
    const target = join(work, "bomb-target");
    const result = await runCliWithin(["restore", repoDir, target], 100_000);
    expect(result.killed, "the restore did not stop").toBe(false);
    expect(result.code, result.stderr).toBe(13);
    expect(result.stderr).toMatch(/repeats subtrees/);
    // Linear in what the forger stored: at most 1000 times the 121 entries of the 41 trees.
    const created = (await fsp.readdir(target, { recursive: true })).length;
    expect(created).toBeLessThan(130_000);
  }, 150_000);
});
