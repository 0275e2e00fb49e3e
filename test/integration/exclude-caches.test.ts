/**
 * backup --exclude-caches (issue 21) through the built CLI: directories holding a valid
 * CACHEDIR.TAG are kept with only the tag, invalid or symlinked tags change nothing,
 * blindsync's own cache (tagged at its root) is skipped when it lies inside a source, and the
 * directory cache of later runs follows a tag that comes or goes.
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { listAll } from "../helpers/files.js";
import { removeDir, tempDir } from "../helpers/trees.js";

const SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55";

describe("backup --exclude-caches", () => {
  let work: string;
  let source: string;
  let repo: string;
  let cacheDir: string;
  const cli = (args: string[]) => runCli(args, { cacheDir });
  let restores = 0;

  /** Backs up with `flags`, restores the new snapshot, and lists what came back. */
  async function backupAndList(flags: string[]): Promise<string[]> {
    const backup = await cli(["backup", ...flags, source, repo]);
    expect(backup.code, backup.stderr).toBe(0);
    const target = join(work, `restored-${String(++restores)}`);
    const restore = await cli(["restore", repo, target]);
    expect(restore.code, restore.stderr).toBe(0);
    return listAll(target);
  }

  beforeAll(async () => {
    work = await tempDir("blindsync-exclude-caches-");
    source = join(work, "home");
    repo = join(work, "vault");
    // The client cache lives inside the source, as ~/.cache/blindsync does in a home backup.
    cacheDir = join(source, ".cache", "blindsync");
    for (const dir of ["build/cache/sub", "fake", "linked", "plain"])
      mkdirSync(join(source, dir), { recursive: true });
    writeFileSync(join(source, "build/cache/CACHEDIR.TAG"), `${SIGNATURE}\n`);
    writeFileSync(join(source, "build/cache/object.o"), "compiled");
    writeFileSync(join(source, "build/cache/sub/deep.o"), "deeper");
    writeFileSync(join(source, "build/main.c"), "int main;");
    writeFileSync(join(source, "fake/CACHEDIR.TAG"), "Signature: not this one");
    writeFileSync(join(source, "fake/kept.txt"), "kept");
    symlinkSync(
      join(source, "build/cache/CACHEDIR.TAG"),
      join(source, "linked/CACHEDIR.TAG"),
    );
    writeFileSync(join(source, "linked/kept.txt"), "kept");
    writeFileSync(join(source, "plain/notes.txt"), "notes");
    expect((await cli(["init", repo])).code).toBe(0);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it("keeps a tagged directory with only its tag, and blindsync's own cache with only its tag", async () => {
    const listed = await backupAndList(["--exclude-caches"]);
    expect(listed).toContain("build/cache/CACHEDIR.TAG");
    expect(listed.filter((path) => path.startsWith("build/cache/"))).toEqual([
      "build/cache/CACHEDIR.TAG",
    ]);
    expect(listed).toContain("build/main.c");
    expect(listed).toContain("fake/kept.txt");
    expect(listed).toContain("linked/kept.txt");
    expect(listed).toContain("plain/notes.txt");
    expect(
      listed.filter((path) => path.startsWith(".cache/blindsync/")),
    ).toEqual([".cache/blindsync/CACHEDIR.TAG"]);
  });

  it("follows a tag that goes and comes back on later runs", async () => {
    rmSync(join(source, "build/cache/CACHEDIR.TAG"));
    const untagged = await backupAndList(["--exclude-caches"]);
    expect(untagged).toContain("build/cache/object.o");
    expect(untagged).toContain("build/cache/sub/deep.o");

    writeFileSync(join(source, "build/cache/CACHEDIR.TAG"), SIGNATURE);
    const tagged = await backupAndList(["--exclude-caches"]);
    expect(tagged.filter((path) => path.startsWith("build/cache/"))).toEqual([
      "build/cache/CACHEDIR.TAG",
    ]);
  });

  it("without the flag a tagged directory is backed up whole", async () => {
    // Not the live cache itself: it is being written while it would be read.
    const listed = (await backupAndList(["--exclude", ".cache"])).filter(
      (path) => path.startsWith("build/cache/"),
    );
    expect(listed.sort()).toEqual([
      "build/cache/CACHEDIR.TAG",
      "build/cache/object.o",
      "build/cache/sub",
      "build/cache/sub/deep.o",
    ]);
  });
});
