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
});
