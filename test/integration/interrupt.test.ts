/**
 * Ctrl-C and SIGTERM during a backup (issue 21): the built CLI says what happened and that
 * nothing is lost, exits 130 or 143, and leaves no repository lock behind, so a prune right
 * after it runs at once instead of waiting a minute for the dead lease. The next backup
 * reuses what the interrupted one uploaded and restores exactly.
 *
 * The backup goes through the throttled stand-in for ssh (test/helpers/throttled.ts), so it is
 * still uploading when the signal comes, whatever the machine's speed.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  isCleanError,
  runCli,
  spawnCli,
  type KillableCli,
} from "../helpers/cli.js";
import { throttledRepository } from "../helpers/throttled.js";
import { directoryDifferences, removeDir, tempDir } from "../helpers/trees.js";

/** 24 MiB of random bytes at 4 MiB/s: about 6 s of upload. */
const RATE = 4 * 1024 * 1024;
const BIG = 24 * 1024 * 1024;

describe("a backup interrupted by a signal", () => {
  let work: string;
  let source: string;
  let cacheDir: string;
  let repo: string;
  let env: Record<string, string>;
  const cli = (args: string[]) => runCli(args, { cacheDir, env });

  /** The lines of `unlock REPO` naming a lock still held (it removes only expired ones). */
  async function liveLocks(): Promise<boolean> {
    const listed = await cli(["unlock", repo]);
    expect(listed.code, listed.stderr).toBe(0);
    return listed.stdout.includes("Still held");
  }

  /** Waits until the running backup holds its repository lock, and then `extraMs` more. */
  async function whenLocked(running: KillableCli, extraMs: number) {
    const deadline = Date.now() + 60_000;
    while (!(await liveLocks())) {
      expect(running.exited(), "the backup ended before it held a lock").toBe(
        false,
      );
      expect(Date.now()).toBeLessThan(deadline);
      await sleep(100);
    }
    await sleep(extraMs);
    expect(running.exited(), "the backup ended before the signal").toBe(false);
  }

  beforeAll(async () => {
    work = await tempDir("blindsync-interrupt-");
    source = join(work, "source");
    cacheDir = join(work, "cache");
    mkdirSync(source);
    const throttled = throttledRepository(join(work, "repo"), RATE);
    repo = throttled.location;
    env = throttled.env;
    expect((await cli(["init", repo])).code).toBe(0);
    writeFileSync(join(source, "notes.txt"), "before\n");
    const first = await cli(["backup", source, repo]);
    expect(first.code, first.stderr).toBe(0);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("Ctrl-C: exit 130, says no snapshot was written, and forget --prune finds no lock", async () => {
    writeFileSync(join(source, "big.bin"), randomBytes(BIG));
    const running = spawnCli(["backup", source, repo], { cacheDir, env });
    await whenLocked(running, 500);

    const signalled = Date.now();
    running.child.kill("SIGINT");
    const stopped = await running.done;
    expect(stopped.code, stopped.stderr).toBe(130);
    expect(stopped.stderr).toMatch(
      /Backup interrupted by SIGINT: no snapshot was written\. Nothing is lost: the data already uploaded stays in the repository, and the next backup reuses it/,
    );
    expect(isCleanError(stopped.stderr), stopped.stderr).toBe(true);
    expect(stopped.stderr).not.toMatch(/Snapshot .* saved/);

    // The lease is gone within seconds, not when it would have run out (a minute).
    while (await liveLocks()) {
      expect(Date.now() - signalled).toBeLessThan(15_000);
      await sleep(100);
    }
    const snapshots = await cli(["snapshots", "--json", repo]);
    expect(JSON.parse(snapshots.stdout)).toHaveLength(1);
    const forget = await cli([
      "forget",
      repo,
      "--keep-last",
      "1",
      "--prune",
      "--lock-wait",
      "0",
    ]);
    expect(forget.code, forget.stderr).toBe(0);

    const again = await cli(["backup", source, repo]);
    expect(again.code, again.stderr).toBe(0);
    const target = join(work, "restored-int");
    const restore = await cli(["restore", repo, target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(directoryDifferences(source, target)).toEqual([]);
  });

  it("SIGTERM: exit 143, and the next backup reuses what was uploaded", async () => {
    writeFileSync(join(source, "big.bin"), randomBytes(BIG));
    const running = spawnCli(["backup", source, repo], { cacheDir, env });
    // Long enough for a few 4 MiB batches to be stored.
    await whenLocked(running, 2500);
    running.child.kill("SIGTERM");
    const stopped = await running.done;
    expect(stopped.code, stopped.stderr).toBe(143);
    expect(stopped.stderr).toMatch(/Backup interrupted by SIGTERM/);
    expect(isCleanError(stopped.stderr), stopped.stderr).toBe(true);

    const again = await cli(["backup", "--json", source, repo]);
    expect(again.code, again.stderr).toBe(0);
    const summary = JSON.parse(
      again.stdout.trim().split("\n").at(-1) ?? "",
    ) as {
      bytesAdded: number;
    };
    // What the interrupted run stored is not sent again.
    expect(summary.bytesAdded).toBeLessThan(BIG - 4 * 1024 * 1024);
    const target = join(work, "restored-term");
    const restore = await cli(["restore", repo, target]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(directoryDifferences(source, target)).toEqual([]);
  });
});
