/**
 * backup's progress line, -v list, summary counts and selection flags (issue 21) through the
 * built CLI: under a pseudo-terminal (script(1)) the progress line is drawn in place on
 * stderr; piped, there is none, and --json -v prints file and summary objects.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, cliEnv, runCli } from "../helpers/cli.js";
import { removeDir, tempDir } from "../helpers/trees.js";

const SCRIPT = "/usr/bin/script";

/** `text` quoted for sh. */
const quoted = (text: string): string => `'${text.replaceAll("'", `'\\''`)}'`;

describe("backup progress, -v and selection through the built CLI", () => {
  let work: string;
  let source: string;
  let repo: string;
  let cacheDir: string;

  beforeAll(async () => {
    work = await tempDir("blindsync-backup-progress-");
    source = join(work, "docs");
    repo = join(work, "vault");
    cacheDir = join(work, "cache");
    mkdirSync(join(source, "sub"), { recursive: true });
    writeFileSync(join(source, "a.txt"), "alpha\n");
    writeFileSync(join(source, "sub", "b.txt"), "beta\n");
    writeFileSync(
      join(source, "sub", "big.iso"),
      Buffer.alloc(2 * 1024 * 1024),
    );
    expect((await runCli(["init", repo], { cacheDir })).code).toBe(0);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it.skipIf(!existsSync(SCRIPT))(
    "on a terminal draws the progress line in place, and -v lists what it reads",
    async () => {
      const command = [
        process.execPath,
        CLI,
        "backup",
        "-v",
        "--exclude-larger-than",
        "1M",
        source,
        repo,
      ]
        .map(quoted)
        .join(" ");
      // script(1) runs the command on a pseudo-terminal and copies what it shows to stdout.
      const { stdout } = await promisify(execFile)(
        SCRIPT,
        ["-qec", command, "/dev/null"],
        { env: cliEnv({ cacheDir }) },
      );
      // Drawn in place: back to the line's start and cleared, then the line.
      expect(stdout).toContain("\r\x1b[2K[0:0");
      expect(stdout).toMatch(/\[0:\d\d\] .*\d \/ \d\+? files/);
      expect(stdout).toContain(`+ ${join(source, "a.txt")}`);
      expect(stdout).toContain(`+ ${join(source, "sub", "b.txt")}`);
      expect(stdout).not.toContain("big.iso");
      expect(stdout).toMatch(/2 files \(2 new, 0 changed, 0 unchanged\), /);
    },
  );

  it("piped, draws no progress; --json -v prints file objects and the counts", async () => {
    // The first backup, if the terminal test could not make it.
    if (!existsSync(SCRIPT))
      await runCli(["backup", "--exclude-larger-than", "1M", source, repo], {
        cacheDir,
      });
    writeFileSync(join(source, "a.txt"), "alpha, changed\n");
    const list = join(work, "list.txt");
    writeFileSync(list, `# the documents\n${source}\n`);
    const backup = await runCli(
      ["backup", "--json", "-v", "-x", "--files-from", list, repo],
      { cacheDir },
    );
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toBe("");
    const objects = backup.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { type: string; path?: string });
    const files = objects.filter((object) => object.type === "file");
    files.sort((a, b) => (a.path ?? "").localeCompare(b.path ?? ""));
    expect(files).toEqual([
      { type: "file", change: "changed", path: join(source, "a.txt") },
      { type: "file", change: "new", path: join(source, "sub", "big.iso") },
    ]);
    expect(objects.at(-1)).toMatchObject({
      type: "summary",
      files: 3,
      filesNew: 1,
      filesChanged: 1,
      filesUnchanged: 1,
    });
  });
});
