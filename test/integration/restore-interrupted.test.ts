/**
 * Through the built CLI (issue 21): a restore killed mid-write (SIGKILL, so no handler of its
 * own runs) leaves its temporary files in the target, and the next restore into that target
 * removes them and restores exactly; a tree of small files (the batched way, issue 20) killed
 * mid-restore has no short or wrong file under a real name; an include pattern that matches
 * nothing exits 1 with one line naming it, and an unknown --overwrite value is a usage error.
 */
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../../src/cli/commands/backup.js";
import { runInit } from "../../src/cli/commands/init.js";
import { runCli, spawnCli } from "../helpers/cli.js";
import { testContext } from "../helpers/command-context.js";
import { fingerprint, sha256File } from "../helpers/files.js";
import { buildManyFilesTree, writeBigFiles } from "../helpers/trees.js";

/** restore's temporary names (src/engine/restore/target.ts). */
const TEMP = /(^|\/)\.blindsync-[0-9a-f]{16}-[0-9]+\.tmp$/;

/** The temporary files below `target`; tolerant of a target not made yet. */
function leftovers(target: string): string[] {
  try {
    return readdirSync(target, { recursive: true, encoding: "utf8" }).filter(
      (path) => TEMP.test(path),
    );
  } catch {
    return [];
  }
}

describe("restore through the built CLI", () => {
  let made: ReturnType<typeof testContext>;
  let repository: string;
  let source: string;
  let cacheDir: string;

  beforeAll(async () => {
    made = testContext();
    repository = join(made.dir, "repo");
    source = join(made.dir, "source");
    cacheDir = join(made.dir, "cache");
    // 16 files of about 1 MiB: all in flight at once, so temporary files exist for most of
    // the restore, whatever the machine's speed.
    await writeBigFiles(source, 21, 16);
    await runInit(made.context.with(), { repository });
    await runBackup(made.context.with(), { repository, sources: [source] });
  }, 120_000);

  afterAll(() => {
    made.cleanup();
  });

  it("a restore killed mid-write leaves temporary files, which the next restore into the target removes", async () => {
    let target = "";
    let left: string[] = [];
    // A fast machine may finish between two looks; each attempt restores into a new target.
    for (let attempt = 0; attempt < 3 && left.length === 0; attempt++) {
      target = join(made.dir, `target-${attempt}`);
      const running = spawnCli(["restore", repository, target], { cacheDir });
      while (!running.exited() && leftovers(target).length === 0)
        await sleep(1);
      running.child.kill("SIGKILL");
      await running.done;
      left = leftovers(target);
    }
    expect(left.length, "no restore was caught mid-write").toBeGreaterThan(0);

    const again = await runCli(["--json", "restore", repository, target], {
      cacheDir,
    });
    expect(again.code, again.stderr).toBe(0);
    expect(leftovers(target)).toEqual([]);
    const summary = JSON.parse(again.stdout.trim().split("\n").at(-1)!) as {
      leftoversRemoved: number;
    };
    expect(summary.leftoversRemoved).toBe(left.length);
    expect(fingerprint(target)).toEqual(fingerprint(source));
  }, 120_000);

  it("an include pattern that matches nothing exits 1 with one line naming it; a bad --overwrite exits 2", async () => {
    const target = join(made.dir, "unmatched");
    const unmatched = await runCli(
      ["restore", repository, target, "--include", "*.pdf"],
      { cacheDir },
    );
    expect(unmatched.code).toBe(1);
    expect(unmatched.stderr).toBe(
      'blindsync: Include pattern "*.pdf" matches nothing in the snapshot\n',
    );
    const bad = await runCli(
      ["restore", repository, target, "--overwrite", "sometimes"],
      { cacheDir },
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("sometimes");
  }, 60_000);
});

describe("a restore of many small files killed through the built CLI", () => {
  let made: ReturnType<typeof testContext>;
  let repository: string;
  let source: string;
  let cacheDir: string;

  beforeAll(async () => {
    made = testContext();
    repository = join(made.dir, "repo");
    source = join(made.dir, "source");
    cacheDir = join(made.dir, "cache");
    // Each file is one blob of at most 24 KiB: every one takes the small-file way, in batches
    // where the addon is built.
    await buildManyFilesTree(source, { files: 1200, dirs: 12, seed: 20 });
    await runInit(made.context.with(), { repository });
    await runBackup(made.context.with(), { repository, sources: [source] });
  }, 120_000);

  afterAll(() => {
    made.cleanup();
  });

  /** Regular files under their real names below `target`, relative paths. */
  function realFiles(target: string): string[] {
    try {
      return readdirSync(target, { recursive: true, encoding: "utf8" }).filter(
        (path) => !TEMP.test(path) && lstatSync(join(target, path)).isFile(),
      );
    } catch {
      return [];
    }
  }

  it("leaves no short or wrong file under a real name, only temporary names the next restore removes", async () => {
    let target = "";
    let killedMidway = false;
    // A fast machine may finish between two looks; each attempt restores into a new target.
    for (let attempt = 0; attempt < 3 && !killedMidway; attempt++) {
      target = join(made.dir, `small-${attempt}`);
      const running = spawnCli(["restore", repository, target], { cacheDir });
      while (!running.exited() && realFiles(target).length < 100)
        await sleep(2);
      killedMidway = !running.exited();
      running.child.kill("SIGKILL");
      await running.done;
    }
    expect(killedMidway, "no restore was caught mid-way").toBe(true);

    const present = realFiles(target);
    expect(present.length).toBeGreaterThan(0);
    expect(present.length).toBeLessThan(1203);
    for (const path of present) {
      expect(
        `${path} ${sha256File(join(target, path))}`,
        "a file under its real name differs from the source",
      ).toBe(`${path} ${sha256File(join(source, path))}`);
    }

    const again = await runCli(["restore", repository, target], { cacheDir });
    expect(again.code, again.stderr).toBe(0);
    expect(leftovers(target)).toEqual([]);
    expect(fingerprint(target)).toEqual(fingerprint(source));
  }, 120_000);
});
