/**
 * `init` and `backup --init` (issue 21): a directory holding the user's files is refused
 * without --force (exit 2, naming them), and a failed init leaves nothing behind: no
 * directory, no database, no cache entry. Through the built CLI; the passphrase prompt through
 * a real pseudo-terminal (util-linux `script`).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CLI, cliEnv, isCleanError, runCli } from "../helpers/cli.js";
import { removeDir, tempDir } from "../helpers/trees.js";

/** The cache's location directories (the root itself may exist, with its CACHEDIR.TAG). */
function cacheEntries(cacheDir: string): string[] {
  if (!existsSync(cacheDir)) return [];
  return readdirSync(cacheDir).filter((name) => name !== "CACHEDIR.TAG");
}

describe("init leaves nothing behind", () => {
  let work: string;
  let cacheDir: string;
  const cli = (args: string[], env: Record<string, string | undefined> = {}) =>
    runCli(args, { cacheDir, env });

  beforeEach(async () => {
    work = await tempDir("blindsync-init-nothing-");
    cacheDir = join(work, "cache");
  });

  afterEach(async () => {
    await removeDir(work);
  });

  it("refuses a directory holding files, naming them (exit 2); --force creates the repository beside them", async () => {
    const dir = join(work, "documents");
    mkdirSync(dir);
    for (const name of ["a.txt", "b.txt", "c.txt", "d.txt"])
      writeFileSync(join(dir, name), name);
    mkdirSync(join(dir, "lost+found"));

    const refused = await cli(["init", dir]);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(
      `"${dir}" already holds files ("a.txt", "b.txt", "c.txt" and 1 more)`,
    );
    expect(refused.stderr).toContain("--force");
    expect(isCleanError(refused.stderr)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual([
      "a.txt",
      "b.txt",
      "c.txt",
      "d.txt",
      "lost+found",
    ]);
    expect(cacheEntries(cacheDir)).toEqual([]);

    // backup --init refuses it the same way.
    const source = join(work, "source");
    mkdirSync(source);
    const backupInit = await cli(["backup", "--init", source, dir]);
    expect(backupInit.code, backupInit.stderr).toBe(2);
    expect(readdirSync(dir)).toHaveLength(5);

    const forced = await cli(["init", "--force", dir]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(readdirSync(dir)).toHaveLength(6);
    expect((await cli(["snapshots", dir])).code).toBe(0);
  });

  it("an empty directory or one with only lost+found is fine", async () => {
    const empty = join(work, "empty");
    mkdirSync(join(empty, "lost+found"), { recursive: true });
    const created = await cli(["init", empty]);
    expect(created.code, created.stderr).toBe(0);
  });

  it("no passphrase to be had: exit 2, and no directory, database or cache entry", async () => {
    const repo = join(work, "new", "vault");
    const result = await cli(["init", repo], { BLINDSYNC_PASSWORD: undefined });
    expect(result.code, result.stderr).toBe(2);
    expect(existsSync(join(work, "new"))).toBe(false);
    expect(cacheEntries(cacheDir)).toEqual([]);
  });

  it("a KDF cost out of bounds: exit 2, and nothing made", async () => {
    const repo = join(work, "vault");
    const result = await cli(["init", repo], { BLINDSYNC_KDF_LOGN: "99" });
    expect(result.code, result.stderr).toBe(2);
    expect(existsSync(repo)).toBe(false);
    expect(cacheEntries(cacheDir)).toEqual([]);
  });

  it("passphrases that differ at the prompt: exit 2, and nothing made", async () => {
    const repo = join(work, "vault");
    // A real terminal: `script` runs the CLI on a pseudo-terminal fed from its stdin.
    const child = spawn(
      "script",
      ["-qec", `${process.execPath} ${CLI} init ${repo}`, "/dev/null"],
      {
        env: cliEnv({ cacheDir, env: { BLINDSYNC_PASSWORD: undefined } }),
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    let seen = "";
    child.stdout.on("data", (data: Buffer) => {
      seen += data.toString("utf8");
      // Each answer once its question is on the screen.
      if (seen.includes("Enter passphrase") && !seen.includes("#1")) {
        seen += "#1";
        child.stdin.write("one\r");
      }
      if (seen.includes("Repeat passphrase") && !seen.includes("#2")) {
        seen += "#2";
        child.stdin.write("two\r");
      }
    });
    const code = await new Promise<number | null>((resolve) =>
      child.on("close", resolve),
    );
    expect(seen).toContain("The two passphrases differ");
    expect(code).toBe(2);
    expect(existsSync(repo)).toBe(false);
    expect(cacheEntries(cacheDir)).toEqual([]);
  });

  it("backup --init with two sources of one base name: exit 2, and no repository made", async () => {
    for (const parent of ["one", "two"])
      mkdirSync(join(work, parent, "docs"), { recursive: true });
    const repo = join(work, "vault");
    const result = await cli([
      "backup",
      "--init",
      join(work, "one", "docs"),
      join(work, "two", "docs"),
      repo,
    ]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('Two sources have the same name "docs"');
    expect(existsSync(repo)).toBe(false);
    expect(cacheEntries(cacheDir)).toEqual([]);
  });

  it("a cache that cannot be written fails init after the repository was made, and the repository goes again", async () => {
    const repo = join(work, "vault");
    const blocked = join(work, "not-a-directory");
    writeFileSync(blocked, "");
    const result = await runCli(["init", repo], {
      cacheDir: join(blocked, "cache"),
    });
    expect(result.code, result.stderr).toBe(1);
    expect(isCleanError(result.stderr)).toBe(true);
    expect(existsSync(repo)).toBe(false);
    // So that init can simply be run again.
    expect((await cli(["init", repo])).code).toBe(0);
  });
});
