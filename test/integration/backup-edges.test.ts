/**
 * Backup behaviour at the edges, through the real executable: unreadable files (a real
 * permission denial, by running blindsync as an unprivileged user), how little a small
 * change to a large file costs, and a source that is a symlink to a directory.
 */
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
  readFileSync,
} from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, runCli } from "../helpers/cli.js";
import { TEST_PASSWORD } from "../helpers/constants.js";
import { seededBytes } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";

function repoSize(repo: string): number {
  return readdirSync(repo).reduce(
    (total, name) => total + statSync(join(repo, name)).size,
    0,
  );
}

describe("backup at the edges", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir();
    chmodSync(work, 0o777);
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("warns about an unreadable file, skips it, saves the rest and exits 3", () => {
    const source = join(work, "unreadable-src");
    mkdirSync(join(source, "locked-dir"), { recursive: true });
    writeFileSync(join(source, "ok.txt"), "readable");
    writeFileSync(join(source, "secret.txt"), "not for nobody");
    chmodSync(join(source, "secret.txt"), 0o000);
    chmodSync(join(source, "locked-dir"), 0o000);
    chmodSync(source, 0o755);
    const repo = join(work, "unreadable-repo");
    const cache = join(work, "unreadable-cache");
    const env = {
      ...process.env,
      BLINDSYNC_PASSWORD: TEST_PASSWORD,
      BLINDSYNC_CACHE_DIR: cache,
      BLINDSYNC_KDF_LOGN: "15",
      HOME: work,
    };
    // As root every file is readable, so run blindsync as "nobody" to get a real EACCES.
    const asNobody = (...args: string[]) =>
      spawnSync(
        "setpriv",
        [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          process.execPath,
          CLI,
          ...args,
        ],
        {
          env,
          encoding: "utf8",
        },
      );
    const init = asNobody("init", repo);
    expect(init.status, init.stderr).toBe(0);
    const backup = asNobody("backup", source, repo);
    expect(backup.status, backup.stderr).toBe(3);
    expect(backup.stderr).toMatch(/secret\.txt.*permission denied/i);
    expect(backup.stderr).toMatch(/locked-dir/);
    expect(backup.stderr).not.toMatch(/\n\s+at /);
    const ls = asNobody("ls", repo);
    expect(ls.status, ls.stderr).toBe(0);
    expect(ls.stdout.split("\n").filter(Boolean).sort()).toEqual(["ok.txt"]);
  });

  it("inserting one byte in the middle of a large file adds only a few MiB", async () => {
    const source = join(work, "big-src");
    mkdirSync(source);
    const big = seededBytes(99, 32 * 1024 * 1024);
    writeFileSync(join(source, "big.bin"), big);
    for (let index = 0; index < 20; index++)
      writeFileSync(join(source, `small-${index}.txt`), `file ${index}\n`);
    const repo = join(work, "big-repo");
    const cacheDir = join(work, "big-cache");
    expect((await runCli(["init", repo], { cacheDir })).code).toBe(0);
    expect((await runCli(["backup", source, repo], { cacheDir })).code).toBe(0);
    const before = repoSize(repo);
    const middle = big.length / 2;
    writeFileSync(
      join(source, "big.bin"),
      Buffer.concat([
        big.subarray(0, middle),
        Buffer.from([42]),
        big.subarray(middle),
      ]),
    );
    for (let index = 0; index < 5; index++)
      writeFileSync(join(source, `small-${index}.txt`), `edited ${index}\n`);
    const rerun = await runCli(["backup", source, repo], { cacheDir });
    expect(rerun.code, rerun.stderr).toBe(0);
    const added = repoSize(repo) - before;
    // One or two chunks around the insertion (1 MiB average, 8 MiB maximum) plus small files.
    expect(added).toBeLessThan(10 * 1024 * 1024);
    expect(added).toBeGreaterThan(0);
    console.log(`one inserted byte + 5 small edits added ${added} bytes`);
    const restored = join(work, "big-restored");
    expect((await runCli(["restore", repo, restored], { cacheDir })).code).toBe(
      0,
    );
    expect(
      readFileSync(join(restored, "big.bin")).equals(
        readFileSync(join(source, "big.bin")),
      ),
    ).toBe(true);
  });

  it("a symlink to a directory is stored as the link, with a note; with a trailing slash, followed", async () => {
    const real = join(work, "linked-real");
    mkdirSync(join(real, "sub"), { recursive: true });
    writeFileSync(join(real, "a.txt"), "alpha");
    writeFileSync(join(real, "sub", "b.txt"), "beta");
    const link = join(work, "linked-docs");
    symlinkSync(real, link);
    const repo = join(work, "linked-repo");
    const cacheDir = join(work, "linked-cache");
    expect((await runCli(["init", repo], { cacheDir })).code).toBe(0);

    const plain = await runCli(["backup", link, repo], { cacheDir });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toContain(
      `"${link}" is a symlink to a directory and is stored as the link; write "${link}/"`,
    );
    const asLink = await runCli(["ls", repo], { cacheDir });
    expect(asLink.stdout.split("\n").filter(Boolean)).toEqual(["linked-docs"]);

    const slashed = await runCli(["backup", `${link}/`, repo], { cacheDir });
    expect(slashed.code, slashed.stderr).toBe(0);
    expect(slashed.stderr).not.toContain("symlink");
    const followed = await runCli(["ls", repo], { cacheDir });
    expect(followed.stdout.split("\n").filter(Boolean).sort()).toEqual([
      "a.txt",
      "sub",
      "sub/b.txt",
    ]);
    const restored = join(work, "linked-restored");
    const restore = await runCli(["restore", repo, restored], { cacheDir });
    expect(restore.code, restore.stderr).toBe(0);
    expect(readFileSync(join(restored, "sub", "b.txt"), "utf8")).toBe("beta");
  });
});
