/**
 * The on-disk format is frozen by a committed repository (test/fixtures/repo-v1, passphrase
 * "fixture", made by blindsync 0.1.0): every later version must still open and restore it
 * exactly. Regenerating it is never the fix for a failure here.
 */
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, runCli } from "../helpers/cli.js";
import { describeTree, removeDir, tempDir } from "../helpers/trees.js";

const FIXTURE = join(PROJECT_ROOT, "test/fixtures/repo-v1");
const EXPECTED = join(PROJECT_ROOT, "test/fixtures/repo-v1.expected.json");

function serialise(
  tree: ReturnType<typeof describeTree>,
): Record<string, unknown> {
  return Object.fromEntries(
    [...tree].map(([key, value]) => [
      Buffer.from(key, "hex").toString("utf8"),
      { ...value, mtimeNs: value.mtimeNs.toString() },
    ]),
  );
}

describe("the committed format-v1 repository", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir();
    cpSync(FIXTURE, join(work, "repo"), { recursive: true });
  });
  afterAll(async () => {
    await removeDir(work);
  });

  it("lists its one snapshot with the recorded time and tag", async () => {
    const result = await runCli(["snapshots", "--json", join(work, "repo")], {
      cacheDir: join(work, "cache"),
      env: { BLINDSYNC_PASSWORD: "fixture" },
    });
    expect(result.code, result.stderr).toBe(0);
    const [snapshot] = JSON.parse(result.stdout) as {
      id: string;
      time: string;
      tags: string[];
    }[];
    expect(snapshot).toMatchObject({
      id: "1bd4e648848a531323d665abd0fb63ef288d871d5df3673ff521b1febc398bcd",
      time: "2026-11-27T12:00:00.000Z",
      tags: ["fixture"],
    });
  });

  it("restores exactly the tree it was made from", async () => {
    const target = join(work, "restored");
    const result = await runCli(["restore", join(work, "repo"), target], {
      cacheDir: join(work, "cache"),
      env: { BLINDSYNC_PASSWORD: "fixture" },
    });
    expect(result.code, result.stderr).toBe(0);
    const actual = serialise(describeTree(target, { rootMtime: true }));
    if (process.env.UPDATE_FIXTURE === "1")
      writeFileSync(EXPECTED, `${JSON.stringify(actual, null, 2)}\n`);
    expect(actual).toEqual(JSON.parse(readFileSync(EXPECTED, "utf8")));
  });

  it("verifies its SHA-256 checksums, and beside them a new backup's checksums over chunk ids", async () => {
    const repo = join(work, "repo");
    const run = (args: string[]) =>
      runCli(args, {
        cacheDir: join(work, "cache"),
        env: { BLINDSYNC_PASSWORD: "fixture" },
      });
    const verifiedBy = (stdout: string): number =>
      Number(/verified (\d+) files? end to end/.exec(stdout)?.[1]);
    const old = await run(["check", "--read-data", repo]);
    expect(old.code, old.stderr).toBe(0);
    const oldFiles = verifiedBy(old.stdout);
    expect(oldFiles).toBeGreaterThan(0);
    const target = join(work, "verified-old");
    const restored = await run(["restore", "--verify", repo, target]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/files verified/);
    // The same files backed up now: the new snapshot records checksums over chunk ids, so the
    // same content is a second set of files for check to verify.
    const backup = await run(["backup", target, repo]);
    expect(backup.code, backup.stderr).toBe(0);
    const both = await run(["check", "--read-data", repo]);
    expect(both.code, both.stderr).toBe(0);
    expect(verifiedBy(both.stdout)).toBe(2 * oldFiles);
    // The two snapshots hold the same files: SHA-256s of blobs against checksums over chunk
    // ids, and small files now inline in their trees (format 4), compared by their SHA-256.
    const listed = await run(["snapshots", "--json", repo]);
    const [first, second] = (JSON.parse(listed.stdout) as { id: string }[]).map(
      (snapshot) => snapshot.id,
    );
    const diff = await run(["diff", repo, first!, second!]);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).not.toMatch(/^M /m);
    const again = join(work, "verified-new");
    const latest = await run(["restore", "--verify", repo, again]);
    expect(latest.code, latest.stderr).toBe(0);
    expect(serialise(describeTree(again, { rootMtime: true }))).toEqual(
      JSON.parse(readFileSync(EXPECTED, "utf8")),
    );
  });
});
