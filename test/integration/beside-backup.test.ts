/**
 * Commands beside a running backup (issue 17, item 1). A backup holds its client cache's write
 * transaction for its whole run; `snapshots`, `ls` and `check` on the same machine, with the
 * same cache, used to wait for it and exit 1 ("database is locked") when they saved their pin.
 * They must work beside it, `forget --prune` must wait for it or exit 11, and the backup's
 * snapshot must then restore exactly.
 *
 * The backup goes through a stand-in for ssh that holds the upload to a fixed rate
 * (test/helpers/slow-ssh.js), so it runs for seconds on any machine, and the test checks that
 * it really holds the cache's write lock before the other commands start.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, spawnCli } from "../helpers/cli.js";
import { CACHE_FILE } from "../helpers/constants.js";
import { throttledRepository, writeLocked } from "../helpers/throttled.js";
import { directoryDifferences, removeDir, tempDir } from "../helpers/trees.js";
import { locationDirs } from "../helpers/cache-dirs.js";

/**
 * The upload rate of the throttled backup: 24 MiB of random bytes take about 12 s, long enough
 * for the four commands started beside it on a loaded 2-core machine.
 */
const RATE = 2 * 1024 * 1024;
const BIG = 24 * 1024 * 1024;

describe("commands beside a running backup, same machine and cache", () => {
  let work: string;
  let source: string;
  let cacheDir: string;
  let repo: string;
  let env: Record<string, string>;
  const cli = (args: string[]) => runCli(args, { cacheDir, env });

  beforeAll(async () => {
    work = await tempDir("blindsync-beside-");
    source = join(work, "source");
    cacheDir = join(work, "cache");
    mkdirSync(source);
    // A remote location whose "ssh" runs `serve` here with the upload held to RATE.
    const throttled = throttledRepository(join(work, "repo"), RATE);
    repo = throttled.location;
    env = throttled.env;
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("snapshots, ls and check exit 0, forget --prune exits 0 or 11, and the backup restores exactly", async () => {
    expect((await cli(["init", repo])).code).toBe(0);
    for (const round of [1, 2]) {
      writeFileSync(join(source, "notes.txt"), `round ${round}\n`);
      const backup = await cli(["backup", source, repo]);
      expect(backup.code, backup.stderr).toBe(0);
    }
    writeFileSync(join(source, "big.bin"), randomBytes(BIG));
    writeFileSync(join(source, "notes.txt"), "round 3, beside the others\n");

    const running = spawnCli(["backup", source, repo], { cacheDir, env });
    const [location] = locationDirs(cacheDir);
    const cacheFile = join(cacheDir, location ?? "", CACHE_FILE);
    // The backup opens its run (and takes the write lock) before it uploads anything.
    const deadline = Date.now() + 60_000;
    while (!writeLocked(cacheFile)) {
      expect(running.exited(), "the backup ended before it held the lock").toBe(
        false,
      );
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(50);
    }

    const started = Date.now();
    const [snapshots, ls, check] = await Promise.all([
      cli(["snapshots", "--json", repo]),
      cli(["ls", repo]),
      cli(["check", repo]),
    ]);
    const took = Date.now() - started;
    expect(snapshots.code, snapshots.stderr).toBe(0);
    expect(JSON.parse(snapshots.stdout)).toHaveLength(2);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain("notes.txt");
    expect(check.code, check.stderr).toBe(0);
    expect(
      running.exited(),
      `the backup finished before the commands beside it (they took ${took} ms): nothing was shown`,
    ).toBe(false);
    expect(writeLocked(cacheFile)).toBe(true);

    // Prune needs the exclusive repository lock: it waits for the backup (or, with
    // --lock-wait 0, would exit 11), and must not delete what the backup is storing.
    const forget = await cli(["forget", repo, "--keep-last", "1", "--prune"]);
    expect([0, 11], forget.stderr).toContain(forget.code);

    const backup = await running.done;
    expect(backup.code, backup.stderr).toBe(0);
    const target = join(work, "restored");
    const restore = await cli(["restore", repo, target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(directoryDifferences(source, target)).toEqual([]);
    const checkAfter = await cli(["check", "--read-data", repo]);
    expect(checkAfter.code, checkAfter.stderr).toBe(0);
  });

  it("a backup beside a forget --lock-wait 0 --prune: the prune exits 11 and changes nothing", async () => {
    writeFileSync(join(source, "big.bin"), randomBytes(BIG));
    const running = spawnCli(["backup", source, repo], { cacheDir, env });
    const [location] = locationDirs(cacheDir);
    const cacheFile = join(cacheDir, location ?? "", CACHE_FILE);
    const deadline = Date.now() + 60_000;
    while (!writeLocked(cacheFile)) {
      expect(running.exited()).toBe(false);
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(50);
    }
    const forget = await cli([
      "forget",
      repo,
      "--keep-last",
      "1",
      "--prune",
      "--lock-wait",
      "0",
    ]);
    expect(forget.code, forget.stderr).toBe(11);
    expect(running.exited()).toBe(false);
    const backup = await running.done;
    expect(backup.code, backup.stderr).toBe(0);
    const target = join(work, "restored-2");
    const restore = await cli(["restore", repo, target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(directoryDifferences(source, target)).toEqual([]);
  });
});
