/**
 * forget and prune through the real executable: restic's retention rules on a hand-built
 * schedule (snapshot times set with --time), --dry-run changing nothing, and the repository
 * file shrinking by about the data no snapshot reaches any more.
 */
import {
  readFileSync,
  statSync,
  writeFileSync,
  mkdirSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { databaseOf } from "../helpers/database.js";
import { sha256File } from "../helpers/files.js";
import { seededBytes } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";

describe("forget and prune from the command line", () => {
  let work: string;
  let repo: string;
  let source: string;
  let cacheDir: string;
  const cli = (...args: string[]) => runCli(args, { cacheDir });
  const dbFile = () => databaseOf(repo);
  const dbHash = () => sha256File(dbFile());

  beforeAll(async () => {
    work = await tempDir();
    repo = join(work, "repo");
    source = join(work, "source");
    cacheDir = join(work, "cache");
    mkdirSync(source);
    expect((await cli("init", repo)).code).toBe(0);
    // Ten daily snapshots, each with its own 1 MiB file that no later snapshot has.
    for (let day = 1; day <= 10; day++) {
      rmSync(join(source, `day-${day - 1}.bin`), { force: true });
      writeFileSync(
        join(source, `day-${day}.bin`),
        seededBytes(day, 1024 * 1024),
      );
      writeFileSync(join(source, "notes.txt"), `day ${day}\n`);
      const time = `2026-03-${String(day).padStart(2, "0")}T12:00:00Z`;
      const result = await cli("backup", source, repo, "--time", time);
      expect(result.code, result.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("--dry-run --json lists what would be kept and removed, with reasons, and changes nothing", async () => {
    const before = dbHash();
    const result = await cli(
      "forget",
      repo,
      "--keep-daily",
      "3",
      "--dry-run",
      "--json",
    );
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const decisions = lines.filter((line) => line.type === "decision");
    expect(decisions).toHaveLength(10);
    const kept = decisions
      .filter((line) => line.keep === true)
      .map((line) => String(line.time).slice(0, 10));
    expect(kept).toEqual(["2026-03-10", "2026-03-09", "2026-03-08"]);
    for (const line of decisions) {
      expect((line.reasons as string[]).length > 0).toBe(line.keep);
    }
    expect(lines.at(-1)).toMatchObject({
      type: "summary",
      kept: 3,
      removed: 7,
      dryRun: true,
    });
    expect(dbHash()).toBe(before);
  });

  it("forget --prune removes the snapshots and shrinks the repository by about the data they alone held", async () => {
    const before = statSync(dbFile()).size;
    const result = await cli("forget", repo, "--keep-daily", "3", "--prune");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Removed 7 snapshots, kept 3/);
    expect(result.stdout).toMatch(/Deleted \d+ unreferenced blobs/);
    const shrunk = before - statSync(dbFile()).size;
    // Seven days' 1 MiB files (incompressible, padded by at most 12 %) went away.
    expect(shrunk).toBeGreaterThan(7 * 1024 * 1024);
    expect(shrunk).toBeLessThan(7 * 1024 * 1024 * 1.2 + 512 * 1024);
    const snapshots = JSON.parse(
      (await cli("snapshots", repo, "--json")).stdout,
    ) as unknown[];
    expect(snapshots).toHaveLength(3);
  });

  it("check --read-data passes afterwards and the kept snapshots restore", async () => {
    const check = await cli("check", repo, "--read-data");
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const target = join(work, "restored");
    const restore = await cli("restore", repo, target);
    expect(restore.code, restore.stderr).toBe(0);
    expect(
      readFileSync(join(target, "day-10.bin")).equals(
        seededBytes(10, 1024 * 1024),
      ),
    ).toBe(true);
  });

  it("a backup after the prune re-uploads a file only forgotten snapshots held", async () => {
    writeFileSync(join(source, "day-2.bin"), seededBytes(2, 1024 * 1024));
    const backup = await cli("backup", source, repo);
    expect(backup.code, backup.stderr).toBe(0);
    const check = await cli("check", repo, "--read-data");
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });

  it("forget without a policy is a usage error that removes nothing", async () => {
    const before = dbHash();
    const result = await cli("forget", repo);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/No retention policy/);
    expect(dbHash()).toBe(before);
  });
});
