/**
 * The short forms with options, through the real executable: an option's value is not a path,
 * so `blindsync REPO TARGET --snapshot ID` restores that snapshot (it once backed REPO and
 * TARGET up into a repository named ID).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { removeDir, tempDir } from "../helpers/trees.js";

describe("short forms with option values", () => {
  let work: string;
  let source: string;
  let repo: string;
  let cacheDir: string;
  let firstId: string;
  const cli = (...args: string[]) => runCli(args, { cacheDir });

  beforeAll(async () => {
    work = await tempDir();
    source = join(work, "source");
    repo = join(work, "repo");
    cacheDir = join(work, "cache");
    mkdirSync(source);
    expect((await cli("init", repo)).code).toBe(0);
    writeFileSync(join(source, "note.txt"), "first version\n");
    const first = await cli(source, repo, "--tag", "one");
    expect(first.code, first.stderr).toBe(0);
    writeFileSync(join(source, "note.txt"), "second version\n");
    const second = await cli(source, repo, "--tag", "two");
    expect(second.code, second.stderr).toBe(0);
    const listed = await cli("snapshots", repo, "--json");
    expect(listed.code, listed.stderr).toBe(0);
    const snapshots = JSON.parse(listed.stdout) as {
      id: string;
      tags: string[];
    }[];
    expect(snapshots.map((s) => s.tags)).toEqual([["one"], ["two"]]);
    firstId = (snapshots[0] as { id: string }).id.slice(0, 8);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("blindsync REPO TARGET --snapshot ID restores that snapshot", async () => {
    const target = join(work, "restored");
    const result = await cli(repo, target, "--snapshot", firstId);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Restored snapshot ${firstId}`);
    expect(readFileSync(join(target, "note.txt"), "utf8")).toBe(
      "first version\n",
    );
    // Nothing was backed up: still the two snapshots.
    const listed = await cli("snapshots", repo, "--json");
    expect(JSON.parse(listed.stdout)).toHaveLength(2);
  });

  it("options before the positionals, global and restore's own, work too", async () => {
    const target = join(work, "restored-2");
    const result = await runCli(
      ["--cache-dir", cacheDir, "-s", firstId, repo, target],
      { cacheDir: join(work, "unused-cache") },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(target, "note.txt"), "utf8")).toBe(
      "first version\n",
    );
  });
});
