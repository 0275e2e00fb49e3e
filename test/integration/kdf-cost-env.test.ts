/**
 * BLINDSYNC_KDF_LOGN through the built executable: `init`, `backup --init` and `key add` read it
 * through one checked parser (src/cli/kdf-cost.ts). A value a key slot may not carry is a usage
 * error before anything is made or asked; an accepted one is the cost the new slot carries.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { removeDir, tempDir } from "../helpers/trees.js";

describe("BLINDSYNC_KDF_LOGN", () => {
  let work: string;
  let cacheDir: string;

  beforeAll(async () => {
    work = await tempDir();
    cacheDir = join(work, "cache");
  });

  afterAll(async () => {
    await removeDir(work);
  });

  it.each([["30"], ["14"], ["abc"], ["16.5"]])(
    "init with %j exits 2 naming the range, and makes no repository",
    async (value) => {
      const repo = join(work, `refused-${value}`);
      const result = await runCli(["init", repo], {
        cacheDir,
        env: { BLINDSYNC_KDF_LOGN: value },
      });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        `BLINDSYNC_KDF_LOGN must be an integer from 15 to 18, not "${value}"`,
      );
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(repo)).toBe(false);
    },
  );

  it("backup --init with a refused value exits 2 and makes no repository", async () => {
    const source = join(work, "source");
    mkdirSync(source, { recursive: true });
    writeFileSync(join(source, "a.txt"), "a");
    const repo = join(work, "refused-backup");
    const result = await runCli(["backup", "--init", source, repo], {
      cacheDir,
      env: { BLINDSYNC_KDF_LOGN: "19" },
    });
    expect(result.code).toBe(2);
    expect(existsSync(repo)).toBe(false);
  });

  it("an accepted value is the cost of the slot init makes and of the slot key add makes", async () => {
    const repo = join(work, "made");
    const init = await runCli(["init", repo], {
      cacheDir,
      env: { BLINDSYNC_KDF_LOGN: "16" },
    });
    expect(init.code).toBe(0);
    const refused = await runCli(["key", "add", repo], {
      cacheDir,
      env: { BLINDSYNC_KDF_LOGN: "x", BLINDSYNC_NEW_PASSWORD: "second" },
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('not "x"');
    const added = await runCli(["key", "add", repo], {
      cacheDir,
      env: { BLINDSYNC_KDF_LOGN: "15", BLINDSYNC_NEW_PASSWORD: "second" },
    });
    expect(added.code).toBe(0);
    const list = await runCli(["key", "list", repo], { cacheDir });
    expect(list.code).toBe(0);
    const costs = list.stdout
      .trim()
      .split("\n")
      .map((line) => /scrypt (N=\S+ r=\d+ p=\d+)/.exec(line)?.[1])
      .sort();
    // The refused key add made no slot: two slots, the one init made and the one key add made.
    expect(costs).toEqual(["N=2^15 r=8 p=1", "N=2^16 r=8 p=1"]);
  });
});
