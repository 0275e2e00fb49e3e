/**
 * A release unpacked over the last one (the class of work of issue 20's "successive releases"
 * row): every file is written anew, so every ctime and inode changes while most files' bytes
 * do not. Files whose one blob an earlier run recorded at their path are not sealed ahead in
 * the worker (file-saver.ts, digestBatch); the backup must still store exactly the changed
 * files' blobs and restore the release byte for byte.
 */
import {
  cpSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { seededBytes } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";

interface Summary {
  filesChanged: number;
  filesNew: number;
  blobsAdded: number;
}

function summaryOf(stdout: string): Summary {
  const line = stdout
    .trim()
    .split("\n")
    .find((text) => text.includes('"type":"summary"'));
  if (line === undefined) throw new Error(`no summary in ${stdout}`);
  return JSON.parse(line) as Summary;
}

/** Release `n` of a package: 60 files of 2-40 KiB; from release 1 on, files 0-4 differ. */
function writeRelease(dir: string, n: number): void {
  mkdirSync(join(dir, "lib"), { recursive: true });
  for (let index = 0; index < 60; index++) {
    const bytes = Buffer.from(seededBytes(index, 2048 + index * 640));
    if (n > 0 && index < 5) bytes.write(`release ${n}`, 0);
    writeFileSync(join(dir, "lib", `module-${index}.js`), bytes);
  }
}

describe("a release unpacked over the last one", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("stores only the changed files' blobs and restores the release", async () => {
    const repo = join(work, "repo");
    const source = join(work, "package");
    const cacheDir = join(work, "cache");
    expect((await runCli(["init", repo], { cacheDir })).code).toBe(0);
    writeRelease(join(work, "r0"), 0);
    writeRelease(join(work, "r1"), 1);
    cpSync(join(work, "r0"), source, { recursive: true });
    const first = await runCli(["backup", "--json", source, repo], {
      cacheDir,
    });
    expect(first.code, first.stderr).toBe(0);
    expect(summaryOf(first.stdout).filesNew).toBe(60);
    // Unpacked over: every file replaced, five of them with other bytes.
    rmSync(source, { recursive: true });
    cpSync(join(work, "r1"), source, { recursive: true });
    const second = await runCli(["backup", "--json", source, repo], {
      cacheDir,
    });
    expect(second.code, second.stderr).toBe(0);
    const summary = summaryOf(second.stdout);
    expect(summary.filesChanged).toBe(60);
    // The five changed files and the directory trees (lib/ and the root).
    expect(summary.blobsAdded).toBe(5 + 2);
    const target = join(work, "restored");
    const restored = await runCli(["restore", repo, target], { cacheDir });
    expect(restored.code, restored.stderr).toBe(0);
    for (let index = 0; index < 60; index++) {
      const name = join("lib", `module-${index}.js`);
      expect(
        readFileSync(join(target, name)).equals(
          readFileSync(join(source, name)),
        ),
      ).toBe(true);
    }
  });
});
