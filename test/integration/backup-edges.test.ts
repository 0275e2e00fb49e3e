/**
 * Backup behaviour at the edges, through the real executable: unreadable files (a real
 * permission denial, by running blindsync as an unprivileged user), and how little a small
 * change to a large file costs.
 */
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  statSync,
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
});
