/**
 * Issue 21's restore policies through the built CLI, with `--json` parsed as NDJSON: patterns
 * for --include and --exclude, --overwrite never and always, --dry-run changing nothing, and
 * --verify counting what it read back. The engine's cases are in
 * src/cli/commands/restore-policies.test.ts; this file proves the flags reach it.
 */
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBackup } from "../../src/cli/commands/backup.js";
import { runInit } from "../../src/cli/commands/init.js";
import { jsonSummary, runCli } from "../helpers/cli.js";
import { testContext } from "../helpers/command-context.js";
import { fingerprint, listAll, restoreDebris } from "../helpers/files.js";

const FILES: Record<string, string> = {
  "notes/todo.txt": "buy milk\n",
  "notes/old/done.txt": "paint the door\n",
  "report.md": "# report\n",
  "photos/a.raw": "raw bytes a",
};

/** Every line of `--json` output parsed: each must be a JSON object. */
function ndjson(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("restore policies through the built CLI", () => {
  let made: ReturnType<typeof testContext>;
  let repository: string;
  let cacheDir: string;

  beforeAll(async () => {
    made = testContext();
    repository = join(made.dir, "repo");
    cacheDir = join(made.dir, "cache");
    const source = join(made.dir, "source");
    for (const [path, text] of Object.entries(FILES)) {
      mkdirSync(join(source, path, ".."), { recursive: true });
      writeFileSync(join(source, path), text);
    }
    await runInit(made.context.with(), { repository });
    await runBackup(made.context.with(), { repository, sources: [source] });
  }, 120_000);

  afterAll(() => {
    made.cleanup();
  });

  const restore = (target: string, ...flags: string[]) =>
    runCli(["restore", "--json", repository, target, ...flags], { cacheDir });

  it("--include and --exclude take patterns: only the matching files are written", async () => {
    const target = join(made.dir, "patterns");
    const result = await restore(
      target,
      "--include",
      "*.txt",
      "--exclude",
      "old/",
    );
    expect(result.code, result.stderr).toBe(0);
    expect(listAll(target).filter((path) => path.includes("."))).toEqual([
      "notes/todo.txt",
    ]);
    expect(jsonSummary(result.stdout)).toMatchObject({ written: 1 });
  });

  it("--overwrite never keeps a changed file, if-newer replaces it only when older, always rewrites it; the summary counts each", async () => {
    const target = join(made.dir, "overwrite");
    expect((await restore(target)).code).toBe(0);
    writeFileSync(join(target, "report.md"), "my edits\n");
    // Older than the snapshot's copy, so only the policy decides.
    utimesSync(join(target, "report.md"), 1_000_000, 1_000_000);

    const never = await restore(target, "--overwrite", "never");
    expect(never.code, never.stderr).toBe(0);
    expect(readFileSync(join(target, "report.md"), "utf8")).toBe("my edits\n");
    expect(jsonSummary(never.stdout)).toMatchObject({
      written: 0,
      overwritten: 0,
      leftAlone: Object.keys(FILES).length,
    });

    // if-newer: the target's copy newer than the snapshot's is left, an older one replaced.
    utimesSync(join(target, "report.md"), 4_000_000_000, 4_000_000_000);
    const newerThere = await restore(target, "--overwrite", "if-newer");
    expect(newerThere.code, newerThere.stderr).toBe(0);
    expect(readFileSync(join(target, "report.md"), "utf8")).toBe("my edits\n");
    utimesSync(join(target, "report.md"), 1_000_000, 1_000_000);
    const olderThere = await restore(target, "--overwrite", "if-newer");
    expect(olderThere.code, olderThere.stderr).toBe(0);
    expect(readFileSync(join(target, "report.md"), "utf8")).toBe(
      FILES["report.md"],
    );
    expect(jsonSummary(olderThere.stdout)).toMatchObject({ overwritten: 1 });
    writeFileSync(join(target, "report.md"), "my edits again\n");

    const always = await restore(target, "--overwrite", "always");
    expect(always.code, always.stderr).toBe(0);
    expect(readFileSync(join(target, "report.md"), "utf8")).toBe(
      FILES["report.md"],
    );
    expect(jsonSummary(always.stdout)).toMatchObject({
      overwritten: Object.keys(FILES).length,
    });
    expect(restoreDebris(target)).toEqual([]);
  });

  it("--dry-run -v names what would change and changes nothing; --verify counts every file read back", async () => {
    const target = join(made.dir, "dry");
    expect((await restore(target)).code).toBe(0);
    writeFileSync(join(target, "report.md"), "changed\n");
    utimesSync(join(target, "report.md"), 1_000_000, 1_000_000);
    const before = fingerprint(target);

    const dry = await runCli(
      ["restore", "--json", "-v", "--dry-run", repository, target],
      { cacheDir },
    );
    expect(dry.code, dry.stderr).toBe(0);
    const lines = ndjson(dry.stdout);
    expect(lines).toContainEqual({
      type: "item",
      action: "overwrite",
      path: "report.md",
    });
    expect(lines.at(-1)).toMatchObject({ type: "summary", dryRun: true });
    expect(fingerprint(target)).toEqual(before);

    const verified = await restore(target, "--verify");
    expect(verified.code, verified.stderr).toBe(0);
    expect(jsonSummary(verified.stdout)).toMatchObject({
      overwritten: 1,
      verified: 1,
    });
    expect(readFileSync(join(target, "report.md"), "utf8")).toBe(
      FILES["report.md"],
    );
  });
});
