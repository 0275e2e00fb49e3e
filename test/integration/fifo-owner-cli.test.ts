/**
 * Issue 21 through the built CLI: a named pipe in the tree is stored without being opened (a
 * backup that opened it would wait for a writer for ever) and restored as a named pipe, and
 * `ls -l` shows owner and group names beside the numbers (`--json`: user and group).
 */
import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { testContext } from "../helpers/command-context.js";

describe("named pipes and owner names through the built CLI", () => {
  let made: ReturnType<typeof testContext>;
  let repository: string;
  let source: string;
  let cacheDir: string;

  beforeAll(async () => {
    made = testContext();
    repository = join(made.dir, "repo");
    source = join(made.dir, "source");
    cacheDir = join(made.dir, "cache");
    mkdirSync(source);
    writeFileSync(join(source, "a.txt"), "alpha\n");
    execFileSync("mkfifo", ["-m", "0640", join(source, "pipe")]);
    const init = await runCli(["init", repository], { cacheDir });
    expect(init.code, init.stderr).toBe(0);
  }, 120_000);

  afterAll(() => {
    made.cleanup();
  });

  it("backs up a fifo without reading it, lists it with owner names, restores it as a fifo", async () => {
    const backup = await runCli(["backup", "--json", source, repository], {
      cacheDir,
    });
    expect(backup.code, backup.stderr).toBe(0);

    const listed = await runCli(["ls", "-l", "--json", repository], {
      cacheDir,
    });
    expect(listed.code, listed.stderr).toBe(0);
    const entries = listed.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const me = userInfo();
    expect(entries).toContainEqual(
      expect.objectContaining({
        path: "pipe",
        type: "fifo",
        uid: me.uid,
        user: me.username,
      }),
    );
    const text = await runCli(["ls", "-l", repository], { cacheDir });
    expect(text.stdout).toMatch(new RegExp(`^prw-r----- ${me.username} `, "m"));

    const target = join(made.dir, "restored");
    const restored = await runCli(["restore", repository, target], {
      cacheDir,
    });
    expect(restored.code, restored.stderr).toBe(0);
    const pipe = lstatSync(join(target, "pipe"));
    expect(pipe.isFIFO()).toBe(true);
    expect(pipe.mode & 0o7777).toBe(0o640);
  });
});
