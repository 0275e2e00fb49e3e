/**
 * The core promise end to end, through the real executable on a local repository: an
 * edge-case tree round-trips exactly (latest and older snapshots), nothing readable reaches
 * the repository, a re-run costs almost nothing, and bad input gets one clear line.
 */
import { createHash } from "node:crypto";
import {
  appendFileSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
  mkdirSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, runCli } from "../helpers/cli.js";
import { storedBlobCount } from "../helpers/database.js";
import { repositoryCase } from "../helpers/repositories.js";
import {
  buildEdgeCaseTree,
  describeTree,
  directoryDifferences,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";

function repoBytes(repo: string): Buffer {
  return Buffer.concat(
    readdirSync(repo).map((name) => readFileSync(join(repo, name))),
  );
}

function repoSize(repo: string): number {
  return readdirSync(repo).reduce(
    (total, name) => total + statSync(join(repo, name)).size,
    0,
  );
}

function expectOneLineError(
  result: CliResult,
  code: number,
  pattern: RegExp,
): void {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stderr).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stderr.trim().split("\n").length).toBeLessThanOrEqual(2);
}

describe("a local repository", () => {
  let work: string;
  let source: string;
  let repo: string;
  let cacheDir: string;
  const cli = (...args: string[]) => runCli(args, { cacheDir });

  beforeAll(async () => {
    work = await tempDir();
    ({ source, repo, cacheDir } = repositoryCase(work));
    await buildEdgeCaseTree(source);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("init creates a repository and says so", async () => {
    const result = await cli("init", repo);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Created repository/);
  });

  it("an edge-case tree round-trips exactly through backup and restore", async () => {
    const backup = await cli("backup", source, repo);
    expect(backup.code, backup.stderr).toBe(0);
    const target = join(work, "restored-1");
    const restore = await cli("restore", repo, target);
    expect(restore.code, restore.stderr).toBe(0);
    expect(directoryDifferences(source, target)).toStrictEqual([]);
  });

  it("no plaintext content, name or unkeyed SHA-256 appears in the repository files", () => {
    const stored = repoBytes(repo);
    for (const needle of [
      "hello blindsync",
      "odd name",
      "with space and",
      "leading-dash",
      "nested",
      "deeper",
      "leaf.bin",
      "exec.sh",
      "plain.txt",
    ]) {
      expect(stored.includes(Buffer.from(needle)), needle).toBe(false);
    }
    const described = describeTree(source);
    for (const entry of described.values()) {
      if (entry.sha256 === undefined) continue;
      const digest = Buffer.from(entry.sha256, "hex");
      expect(stored.includes(digest)).toBe(false);
      expect(stored.includes(Buffer.from(entry.sha256))).toBe(false);
    }
    const big = readFileSync(join(source, "big.bin"));
    expect(stored.includes(big.subarray(1_000_000, 1_000_064))).toBe(false);
  });

  it("a re-run with nothing changed adds at most 256 KiB", async () => {
    const before = repoSize(repo);
    const result = await cli("backup", source, repo);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Added [01] blobs/);
    expect(repoSize(repo) - before).toBeLessThanOrEqual(256 * 1024);
  });

  it("an older snapshot still restores exactly after the tree changed", async () => {
    const first = JSON.parse(
      (await cli("snapshots", repo, "--json")).stdout,
    ) as { id: string }[];
    const expected = describeTree(source, { rootMtime: true });
    appendFileSync(join(source, "plain.txt"), "more\n");
    writeFileSync(join(source, "new-file"), "new\n");
    const backup = await cli("backup", source, repo);
    expect(backup.code, backup.stderr).toBe(0);
    const target = join(work, "restored-old");
    const oldest = first[0]!.id.slice(0, 10);
    const restore = await cli("restore", repo, target, "--snapshot", oldest);
    expect(restore.code, restore.stderr).toBe(0);
    const differences = treeDifferences(
      expected,
      describeTree(target, { rootMtime: true }),
    );
    // The root directory gained a file after `expected` was taken, so only its mtime may differ.
    expect(differences).toEqual([]);
  });

  it("snapshots --json lists id, time, host, paths and tags", async () => {
    const result = await cli("snapshots", repo, "--json");
    const list = JSON.parse(result.stdout) as Record<string, unknown>[];
    expect(list.length).toBe(3);
    for (const item of list) {
      expect(Object.keys(item)).toEqual(
        expect.arrayContaining(["id", "time", "host", "paths", "tags"]),
      );
      expect(String(item.time)).toMatch(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/,
      );
    }
  });

  it("ls, cat and diff read a snapshot without restoring it", async () => {
    const ls = await cli("ls", repo, "dir");
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain("dir/nested/deeper/leaf.bin");
    const cat = await cli("cat", repo, "plain.txt");
    expect(
      cat.stdoutBytes.equals(readFileSync(join(source, "plain.txt"))),
    ).toBe(true);
    const list = JSON.parse(
      (await cli("snapshots", repo, "--json")).stdout,
    ) as { id: string }[];
    const diff = await cli(
      "diff",
      repo,
      list[1]!.id.slice(0, 8),
      list[2]!.id.slice(0, 8),
    );
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toContain("+ new-file");
    expect(diff.stdout).toContain("M plain.txt");
  });

  it("the short forms back up (SRC REPO) and restore (REPO TARGET)", async () => {
    const backup = await cli(source, repo);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/Snapshot [0-9a-f]{8} saved/);
    const target = join(work, "restored-short");
    const restore = await cli(repo, target);
    expect(restore.code, restore.stderr).toBe(0);
    expect(treeDifferences(describeTree(source), describeTree(target))).toEqual(
      [],
    );
  });

  it("excludes patterns given with --exclude and in .blindsyncignore files", async () => {
    const src = join(work, "excl");
    mkdirSync(join(src, "keep", "node_modules"), { recursive: true });
    writeFileSync(join(src, "keep", "a.txt"), "a");
    writeFileSync(join(src, "keep", "b.log"), "b");
    writeFileSync(join(src, "keep", "node_modules", "x.js"), "x");
    writeFileSync(join(src, "keep", ".blindsyncignore"), "*.log\n");
    writeFileSync(
      join(src, "top.log"),
      "kept: the ignore file only covers keep/",
    );
    const result = await cli("backup", src, repo, "--exclude", "node_modules");
    expect(result.code, result.stderr).toBe(0);
    const ls = await cli("ls", repo);
    expect(ls.stdout.split("\n").sort()).toEqual([
      "",
      "keep",
      "keep/.blindsyncignore",
      "keep/a.txt",
      "top.log",
    ]);
  });

  it("a wrong passphrase exits 12 with one line and writes no cache", async () => {
    const freshCache = join(work, "cache-wrong");
    const result = await runCli(["snapshots", repo], {
      cacheDir: freshCache,
      env: { BLINDSYNC_PASSWORD: "wrong" },
    });
    expectOneLineError(result, 12, /No key slot matches this passphrase/);
    expect(() => readdirSync(freshCache)).toThrow();
  });

  it("an unknown snapshot id gives a clear error", async () => {
    const result = await cli(
      "restore",
      repo,
      join(work, "nowhere"),
      "--snapshot",
      "ffffffff",
    );
    expectOneLineError(result, 1, /No snapshot matches "ffffffff"/);
  });

  it("a missing repository exits 10 and creates nothing", async () => {
    const missing = join(work, "no-such-repo");
    const result = await cli("snapshots", missing);
    expectOneLineError(result, 10, /No repository at/);
    expect(() => statSync(missing)).toThrow();
  });

  it("a bad flag is a usage error (exit 2)", async () => {
    const result = await cli("backup", "--no-such-flag", source, repo);
    expect(result.code).toBe(2);
  });

  it("the repository holds the same bytes after a failed command", async () => {
    const hash = () =>
      createHash("sha256").update(repoBytes(repo)).digest("hex");
    const before = hash();
    await runCli(["backup", source, repo], {
      cacheDir,
      env: { BLINDSYNC_PASSWORD: "wrong" },
    });
    expect(hash()).toBe(before);
  });

  it("backup --init creates a missing repository and reuses an existing one", async () => {
    const fresh = join(work, "init-on-demand");
    const first = await cli("backup", "--init", join(source, "dir"), fresh);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/Created repository/);
    const second = await cli("backup", "--init", join(source, "dir"), fresh);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).not.toMatch(/Created repository/);
    const list = JSON.parse(
      (await cli("snapshots", fresh, "--json")).stdout,
    ) as unknown[];
    expect(list).toHaveLength(2);
  });

  it("init at a place where this client's repository was deleted pins the new one", async () => {
    const place = join(work, "recreated");
    expect((await cli("init", place)).code).toBe(0);
    expect((await cli("backup", join(source, "dir"), place)).code).toBe(0);
    rmSync(place, { recursive: true, force: true });
    expect((await cli("init", place)).code).toBe(0);
    const backup = await cli("backup", join(source, "dir"), place);
    expect(backup.code, backup.stderr).toBe(0);
  });
});

describe("backup --dry-run", () => {
  it("names what a change would add (never taking a changed file from the cache) and stores nothing", async () => {
    const work = await tempDir();
    try {
      const source = join(work, "source");
      const repo = join(work, "repo");
      const cli = (...args: string[]) =>
        runCli(args, { cacheDir: join(work, "cache") });
      mkdirSync(source);
      writeFileSync(join(source, "small.txt"), "hello\n");
      writeFileSync(join(source, "large.bin"), Buffer.alloc(3_000_000, 7));
      expect((await cli("init", repo)).code).toBe(0);
      expect((await cli("backup", source, repo)).code).toBe(0);
      const blobCount = () => storedBlobCount(repo);
      const stored = blobCount();

      const unchanged = await cli("backup", "--dry-run", source, repo);
      expect(unchanged.code, unchanged.stderr).toBe(0);
      expect(unchanged.stdout).toMatch(/Would add 0 blobs/);

      appendFileSync(join(source, "small.txt"), "more\n");
      const changed = await cli("backup", "--dry-run", "--json", source, repo);
      expect(changed.code, changed.stderr).toBe(0);
      const summary = JSON.parse(changed.stdout.trim().split("\n").at(-1)!) as {
        blobsAdded: number;
        bytesAdded: number;
      };
      // The root tree, which holds the changed small file's bytes inline (tree format 4);
      // nothing of the unchanged large file.
      expect(summary.blobsAdded).toBe(1);
      expect(summary.bytesAdded).toBeLessThan(1000);
      // A dry run takes and releases a lock, and stores no blob.
      expect(blobCount()).toBe(stored);
    } finally {
      await removeDir(work);
    }
  });
});
