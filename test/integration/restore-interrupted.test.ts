/**
 * Through the built CLI (issue 21): a restore killed mid-write (SIGKILL, so no handler of its
 * own runs) leaves its temporary files in the target, and the next restore into that target
 * removes them and restores exactly; an include pattern that matches nothing exits 1 with one
 * line naming it, and an unknown --overwrite value is a usage error.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../../src/cli/commands/backup.js";
import { runInit } from "../../src/cli/commands/init.js";
import { runCli, spawnCli } from "../helpers/cli.js";
import { testContext } from "../helpers/command-context.js";
import { fingerprint } from "../helpers/files.js";
import { writeBigFiles } from "../helpers/trees.js";

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
