/**
 * T5 (issue 6): another repository at the same location, and key slots whose KDF parameters are
 * out of bounds. Both are refused with exit 14 before anything is uploaded and before any KDF
 * runs.
 *
 * "Before the KDF" is shown, not assumed:
 * - A foreign repository is refused when no passphrase is available at all (no
 *   BLINDSYNC_PASSWORD, no terminal: stdin is a pipe). Had the client asked for the passphrase
 *   first, it would fail with the usage error (exit 2) instead of 14; without a passphrase no
 *   KDF can run.
 * - A slot with logN 10 would open quickly if the KDF ran, and then fail authentication (the
 *   parameters are bound into the slot's AAD) with exit 12; exit 14 with the bounds message
 *   only comes from the bounds check that precedes the KDF.
 * - A valid slot plus an out-of-bounds one: every slot is checked before the first KDF runs,
 *   and the out-of-bounds one is skipped with a warning (anyone who can write to the store
 *   can add one, and it must not lock anyone out: issue 17), never derived.
 */
import { cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { count } from "../helpers/counts.js";
import { storedKeySlots, withDatabase } from "../helpers/database.js";
import { cacheFingerprint, fingerprint } from "../helpers/files.js";
import { removeDir, tempDir } from "../helpers/trees.js";

/** A key slot field and the out-of-bounds value written into it (byte 6 logN, 7 r, 8 p). */
interface BadParam {
  readonly field: "logN" | "r" | "p";
  readonly value: number;
}

const BAD_PARAMS: readonly BadParam[] = [
  { field: "logN", value: 10 },
  { field: "logN", value: 30 },
  { field: "logN", value: 14 },
  { field: "logN", value: 21 },
  { field: "r", value: 0 },
  { field: "r", value: 33 },
  { field: "p", value: 0 },
  { field: "p", value: 17 },
];
const OFFSET = { logN: 6, r: 7, p: 8 } as const;

describe("T5 another repository at the same location", () => {
  let work: string;
  beforeAll(async () => {
    work = await tempDir("blindsync-foreign-");
  });
  afterAll(async () => {
    await removeDir(work);
  });

  for (let round = 0; round < count(1, 3); round++) {
    it(`round ${round + 1}: a freshly initialised repository with another passphrase is refused with exit 14 by backup, restore and snapshots, without a passphrase, writing nothing`, async () => {
      const dir = join(work, `round-${round}`);
      const repo = join(dir, "repo");
      const source = join(dir, "source");
      const cacheDir = join(dir, "cache");
      mkdirSync(source, { recursive: true });
      writeFileSync(
        join(source, "mine.txt"),
        `the real data, round ${round}\n`,
      );
      expect((await runCli(["init", repo], { cacheDir })).code).toBe(0);
      const first = await runCli(["backup", source, repo], { cacheDir });
      expect(first.code, first.stderr).toBe(0);

      // The server swaps in another repository: its own id, keys, passphrase and snapshot.
      await removeDir(repo);
      const otherCache = join(dir, "other-cache");
      const otherEnv = { env: { BLINDSYNC_PASSWORD: `someone else ${round}` } };
      expect(
        (await runCli(["init", repo], { cacheDir: otherCache, ...otherEnv }))
          .code,
      ).toBe(0);
      const foreignBackup = await runCli(["backup", source, repo], {
        cacheDir: otherCache,
        ...otherEnv,
      });
      expect(foreignBackup.code, foreignBackup.stderr).toBe(0);

      const repoBefore = fingerprint(repo);
      const cacheBefore = cacheFingerprint(cacheDir);
      const target = join(dir, "restored");
      writeFileSync(join(source, "new.txt"), "would be uploaded\n");
      const attempts: [string, string[]][] = [
        ["backup", ["backup", source, repo]],
        ["restore", ["restore", repo, target]],
        ["snapshots", ["snapshots", repo]],
      ];
      for (const [name, args] of attempts) {
        // No passphrase anywhere and no terminal: asking for one would be exit 2.
        const result = await runCli(args, {
          cacheDir,
          env: { BLINDSYNC_PASSWORD: undefined },
        });
        expect(result.code, `${name}: ${result.stderr}`).toBe(14);
        expect(result.stderr).toMatch(/is not the one this client has used/);
        expect(result.stderr).not.toMatch(/passphrase/i);
        expect(fingerprint(repo), `${name} changed the repository`).toEqual(
          repoBefore,
        );
        expect(cacheFingerprint(cacheDir), `${name} changed the cache`).toEqual(
          cacheBefore,
        );
      }
      // With the right passphrase of the real repository it is the same refusal.
      const withPassphrase = await runCli(["backup", source, repo], {
        cacheDir,
      });
      expect(withPassphrase.code, withPassphrase.stderr).toBe(14);
      expect(fingerprint(repo)).toEqual(repoBefore);
      expect(existsSync(target)).toBe(false);
      await removeDir(dir);
    });
  }
});

describe("T5 key slots with KDF parameters out of bounds", () => {
  let work: string;
  let pristine: string;
  let source: string;
  let pinnedCache: string;

  beforeAll(async () => {
    work = await tempDir("blindsync-kdf-bounds-");
    pristine = join(work, "pristine");
    source = join(work, "source");
    pinnedCache = join(work, "pinned-cache");
    mkdirSync(source, { recursive: true });
    writeFileSync(join(source, "a.txt"), "kdf bounds\n");
    expect(
      (await runCli(["init", pristine], { cacheDir: pinnedCache })).code,
    ).toBe(0);
    const backup = await runCli(["backup", source, pristine], {
      cacheDir: pinnedCache,
    });
    expect(backup.code, backup.stderr).toBe(0);
  });

  afterAll(async () => {
    await removeDir(work);
  });

  /** A copy of the pristine repository at `name`, and a copy of the pinned client's cache for it. */
  function prepare(name: string): { repo: string; pinned: string } {
    const repo = join(work, name, "repo");
    cpSync(pristine, repo, { recursive: true });
    return { repo, pinned: join(work, name, "pinned") };
  }

  async function expectRefused(repo: string, pattern: RegExp): Promise<void> {
    const before = fingerprint(repo);
    // A fresh client: no cache at all. Nothing may be created for it.
    const freshCache = join(repo, "..", "fresh-cache");
    for (const args of [
      ["backup", source, repo],
      ["snapshots", repo],
    ]) {
      const fresh = await runCli(args, { cacheDir: freshCache });
      expect(fresh.code, fresh.stderr).toBe(14);
      expect(fresh.stderr).toMatch(pattern);
      expect(fresh.stderr).toMatch(/accepts scrypt logN 15–18/);
      expect(fingerprint(repo)).toEqual(before);
      expect(existsSync(freshCache), "a cache was created").toBe(false);
    }
  }

  BAD_PARAMS.slice(0, count(2, BAD_PARAMS.length)).forEach((bad) => {
    it(`a slot with ${bad.field} ${bad.value} is refused with exit 14 before any KDF runs, by a fresh client and by one that knows the repository`, async () => {
      const { repo, pinned } = prepare(`${bad.field}-${bad.value}`);
      // The pinned client sees the repository intact first (its pin then names this location).
      const seen = await runCli(["snapshots", repo], { cacheDir: pinned });
      expect(seen.code, seen.stderr).toBe(0);
      const [slot] = storedKeySlots(repo);
      if (slot === undefined) throw new Error("the repository has no key slot");
      const bytes = Buffer.from(slot.bytes);
      bytes[OFFSET[bad.field]] = bad.value;
      withDatabase(repo, (db) => {
        db.prepare("UPDATE key_slots SET bytes = ? WHERE name = ?").run(
          bytes,
          slot.name,
        );
      });
      const pattern = new RegExp(
        `out-of-bounds KDF parameters \\(logN ${bad.field === "logN" ? bad.value : 15}`,
      );
      await expectRefused(repo, pattern);

      const before = fingerprint(repo);
      const cacheBefore = cacheFingerprint(pinned);
      const started = Date.now();
      const result = await runCli(["backup", source, repo], {
        cacheDir: pinned,
      });
      expect(result.code, result.stderr).toBe(14);
      expect(result.stderr).toMatch(pattern);
      expect(fingerprint(repo)).toEqual(before);
      expect(cacheFingerprint(pinned)).toEqual(cacheBefore);
      // logN 30 would need 128 GiB and hours; the refusal takes a process start.
      expect(Date.now() - started).toBeLessThan(30_000);
    });
  });

  it("a valid slot plus an out-of-bounds one (logN 30) opens with a warning naming it, without deriving it", async () => {
    const { repo } = prepare("two-slots");
    const [slot] = storedKeySlots(repo);
    if (slot === undefined) throw new Error("the repository has no key slot");
    const bytes = Buffer.from(slot.bytes);
    bytes[OFFSET.logN] = 30;
    withDatabase(repo, (db) => {
      db.prepare("INSERT INTO key_slots (name, bytes) VALUES (?, ?)").run(
        "0000000000000000",
        bytes,
      );
    });
    // The out-of-bounds slot sorts first: trying it would need 128 GiB and hours.
    expect(storedKeySlots(repo).map((row) => row.name)).toEqual([
      "0000000000000000",
      slot.name,
    ]);
    const started = Date.now();
    const result = await runCli(["snapshots", repo], {
      cacheDir: join(repo, "..", "fresh-cache"),
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /warning: key slot 0000000000000000 skipped: Key slot has out-of-bounds KDF parameters \(logN 30,/,
    );
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
