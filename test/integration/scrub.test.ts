/** `blindsync scrub`: the keyless server-side check finds a flipped stored byte with no passphrase. */
import { join } from "node:path";
import { mkdirSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { KIND } from "../helpers/constants.js";
import { blobRows, flipStoredByte } from "../helpers/database.js";
import { seededBytes } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";

describe("blindsync scrub", () => {
  let work: string;
  let repo: string;
  beforeAll(async () => {
    work = await tempDir();
    repo = join(work, "repo");
    const source = join(work, "source");
    mkdirSync(source);
    writeFileSync(join(source, "a.bin"), seededBytes(1, 200_000));
    writeFileSync(join(source, "b.txt"), "b");
    const cacheDir = join(work, "cache");
    expect((await runCli(["init", repo], { cacheDir })).code).toBe(0);
    expect((await runCli(["backup", source, repo], { cacheDir })).code).toBe(0);
  });
  afterAll(async () => {
    await removeDir(work);
  });

  const scrub = () =>
    runCli(["scrub", repo], {
      cacheDir: join(work, "no-cache"),
      env: { BLINDSYNC_PASSWORD: undefined },
    });

  it("says all blobs are intact on a healthy repository, without a passphrase", async () => {
    const result = await scrub();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Scrubbed \d+ blobs: all intact/);
  });

  it("names the blob whose stored bytes changed and exits 13", async () => {
    const [row] = blobRows(repo, KIND.data);
    if (row === undefined) throw new Error("no data blob");
    flipStoredByte(repo, row.id);
    const result = await scrub();
    expect(result.code).toBe(13);
    expect(result.stdout).toContain(`damaged blob ${row.id.toString("hex")}`);
  });
});
