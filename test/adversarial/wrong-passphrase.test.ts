/**
 * T6 (issue 6): a wrong passphrase. Every command that opens the repository exits 12, leaves
 * the repository byte-identical (the whole directory is hashed, so a lock row, a journal or a
 * rewritten page would show), writes no cache for a client that had none, and leaves the cache
 * of a client that had one as it was. The passphrases are near misses (one character off, a
 * trailing space or newline, other case) and seeded random ones.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { TEST_PASSWORD } from "../helpers/constants.js";
import { count } from "../helpers/counts.js";
import { cacheFingerprint, fingerprint } from "../helpers/files.js";
import { Prng } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";

/** Commands that open the repository, the destructive ones first. */
function commands(
  repo: string,
  source: string,
  target: string,
): { readonly args: string[]; readonly newPassword?: boolean }[] {
  return [
    { args: ["backup", source, repo] },
    { args: ["key", "passwd", repo], newPassword: true },
    { args: ["prune", repo] },
    { args: ["restore", repo, target] },
    { args: ["forget", "--keep-last", "1", repo] },
    { args: ["key", "add", repo], newPassword: true },
    { args: ["snapshots", repo] },
    { args: ["check", "--read-data", repo] },
    { args: ["ls", repo] },
    { args: ["cat", repo, "a.txt"] },
  ];
}

function wrongPassphrase(index: number): string {
  const random = new Prng(6000 + index);
  const near = [
    `${TEST_PASSWORD} `,
    TEST_PASSWORD.slice(0, -1),
    `${TEST_PASSWORD.slice(0, -1)}f`,
    TEST_PASSWORD.toUpperCase(),
    `${TEST_PASSWORD}\n`,
    `\u00e9${TEST_PASSWORD}`,
  ];
  const pick = near[index];
  if (pick !== undefined) return pick;
  const length = 8 + Math.floor(random.next() * 200);
  let text = "";
  for (let i = 0; i < length; i++)
    text += String.fromCharCode(0x21 + Math.floor(random.next() * 0x5e));
  return text;
}

describe("T6 wrong passphrase", () => {
  let work: string;
  let repo: string;
  let source: string;
  let pinnedCache: string;

  beforeAll(async () => {
    work = await tempDir("blindsync-wrong-pass-");
    repo = join(work, "repo");
    source = join(work, "source");
    pinnedCache = join(work, "pinned-cache");
    mkdirSync(source, { recursive: true });
    writeFileSync(join(source, "a.txt"), "the data\n");
    expect((await runCli(["init", repo], { cacheDir: pinnedCache })).code).toBe(
      0,
    );
    for (let snapshot = 0; snapshot < 2; snapshot++) {
      writeFileSync(join(source, `s${snapshot}.txt`), `snapshot ${snapshot}\n`);
      const backup = await runCli(["backup", source, repo], {
        cacheDir: pinnedCache,
      });
      expect(backup.code, backup.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    await removeDir(work);
  });

  const attempts = count(3, 10);
  for (let index = 0; index < attempts; index++) {
    it(`attempt ${index + 1}: a wrong passphrase exits 12, leaves the repository byte-identical and writes no cache`, async () => {
      const target = join(work, `restored-${index}`);
      const command = commands(repo, source, target)[index % 10];
      if (command === undefined) throw new Error("no command");
      const password = wrongPassphrase(index);
      const env = {
        BLINDSYNC_PASSWORD: password,
        ...(command.newPassword === true
          ? { BLINDSYNC_NEW_PASSWORD: "a new passphrase" }
          : {}),
      };
      writeFileSync(join(source, "changed.txt"), `attempt ${index}\n`);
      const repoBefore = fingerprint(repo);
      const pinnedBefore = cacheFingerprint(pinnedCache);

      // A client that has never seen the repository: no cache may appear.
      const freshCache = join(work, `fresh-cache-${index}`);
      const fresh = await runCli(command.args, { cacheDir: freshCache, env });
      expect(fresh.code, `${command.args.join(" ")}: ${fresh.stderr}`).toBe(12);
      expect(fresh.stderr).toMatch(/No key slot matches this passphrase/);
      expect(fresh.stderr).not.toContain(password.trim());
      expect(existsSync(freshCache), "a cache directory was written").toBe(
        false,
      );
      expect(fingerprint(repo)).toEqual(repoBefore);

      // A client that knows the repository: its cache stays as it was.
      const pinned = await runCli(command.args, { cacheDir: pinnedCache, env });
      expect(pinned.code, `${command.args.join(" ")}: ${pinned.stderr}`).toBe(
        12,
      );
      expect(fingerprint(repo)).toEqual(repoBefore);
      expect(cacheFingerprint(pinnedCache)).toEqual(pinnedBefore);
      expect(existsSync(target)).toBe(false);
    });
  }

  it("the right passphrase still opens the repository afterwards, with both snapshots", async () => {
    const result = await runCli(["snapshots", "--json", repo], {
      cacheDir: pinnedCache,
    });
    expect(result.code, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as unknown[]).length).toBe(2);
  });
});
