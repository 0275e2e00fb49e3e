/**
 * T4 (issue 6): a repository replaced by an older copy of itself. A client that has seen head
 * N must refuse, with exit 14, a repository that shows an older head, or a different snapshot
 * at the same height (a fork); the refusal comes before anything is written (the repository's
 * bytes are unchanged, a restore target is not even created) and leaves the client's pin as it
 * was, so a later look at the real repository still works.
 */
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { PIN_FILE } from "../helpers/constants.js";
import { count } from "../helpers/counts.js";
import { cacheFingerprint, fingerprint } from "../helpers/files.js";
import { seededBytes } from "../helpers/prng.js";
import { removeDir, tempDir } from "../helpers/trees.js";
import { locationDirs } from "../helpers/cache-dirs.js";

interface RollbackCase {
  /** The repository is copied right after this snapshot (1..4) ... */
  readonly copyAfter: number;
  /** ... and, for a fork, another client adds its own snapshot to the copy. */
  readonly fork: boolean;
}

const CASES: readonly RollbackCase[] = [
  { copyAfter: 2, fork: false },
  { copyAfter: 4, fork: true },
  { copyAfter: 1, fork: false },
  { copyAfter: 3, fork: false },
  { copyAfter: 4, fork: false },
];

function readPin(cacheDir: string): { lastSeq: number; lastHead: string } {
  const [location] = locationDirs(cacheDir);
  if (location === undefined) throw new Error(`no cache under ${cacheDir}`);
  const db = new Database(join(cacheDir, location, PIN_FILE), {
    readonly: true,
    fileMustExist: true,
  });
  try {
    const row = db
      .prepare("SELECT last_seq, last_head FROM pin WHERE only = 1")
      .get() as { last_seq: number; last_head: Buffer | null };
    return {
      lastSeq: row.last_seq,
      lastHead: row.last_head?.toString("hex") ?? "",
    };
  } finally {
    db.close();
  }
}

describe("T4 rollback: the repository replaced by an older copy of itself", () => {
  let work: string;

  beforeAll(async () => {
    work = await tempDir("blindsync-rollback-");
  });

  afterAll(async () => {
    await removeDir(work);
  });

  CASES.slice(0, count(2, 5)).forEach((testCase, index) => {
    const what = testCase.fork
      ? `a copy taken after S${testCase.copyAfter} that another client extended to S5'`
      : `a copy taken after S${testCase.copyAfter}`;
    it(`case ${index + 1}: ${what}, put back after S5, makes backup, restore and snapshots exit 14 before writing anything, and the pin stays`, async () => {
      const dir = join(work, `case-${index}`);
      const repo = join(dir, "repo");
      const copy = join(dir, "copy");
      const source = join(dir, "source");
      const cacheDir = join(dir, "cache");
      const cli = (args: string[], cache = cacheDir) =>
        runCli(args, { cacheDir: cache });

      const init = await cli(["init", repo]);
      expect(init.code, init.stderr).toBe(0);
      mkdirSync(source, { recursive: true });
      for (let snapshot = 1; snapshot <= 5; snapshot++) {
        // Each snapshot adds one file, so every head has different content.
        writeFileSync(
          join(source, `file-${snapshot}.bin`),
          seededBytes(index * 100 + snapshot, 50_000 + snapshot),
        );
        const backup = await cli(["backup", source, repo]);
        expect(backup.code, backup.stderr).toBe(0);
        if (snapshot === testCase.copyAfter)
          cpSync(repo, copy, { recursive: true });
      }
      if (testCase.fork) {
        // Another client (its own cache) writes a different S5 into the copy.
        writeFileSync(
          join(source, "fork.txt"),
          "written by the other client\n",
        );
        const other = await cli(
          ["backup", source, copy],
          join(dir, "other-cache"),
        );
        expect(other.code, other.stderr).toBe(0);
      }

      const listing = await cli(["snapshots", "--json", repo]);
      expect(listing.code, listing.stderr).toBe(0);
      const snapshots = JSON.parse(listing.stdout) as {
        id: string;
        seq: number;
      }[];
      const s5 = snapshots.find((snapshot) => snapshot.seq === 5);
      expect(s5).toBeDefined();
      const pinBefore = readPin(cacheDir);
      expect(pinBefore).toEqual({ lastSeq: 5, lastHead: s5?.id });

      // The rollback: the real repository goes aside, the old copy takes its place.
      cpSync(repo, join(dir, "real"), { recursive: true });
      rmSync(repo, { recursive: true });
      cpSync(copy, repo, { recursive: true });
      const repoBefore = fingerprint(repo);
      const cacheBefore = cacheFingerprint(cacheDir);

      const target = join(dir, "restored");
      const attempts: [string, string[]][] = [
        ["backup", ["backup", source, repo]],
        ["restore", ["restore", repo, target]],
        ["snapshots", ["snapshots", repo]],
      ];
      for (const [name, args] of attempts) {
        const result = await cli(args);
        expect(result.code, `${name}: ${result.stderr}`).toBe(14);
        expect(result.stderr, name).toMatch(
          testCase.fork
            ? /head 5 is not the snapshot/
            : new RegExp(
                `shows head ${testCase.copyAfter} but this client has seen head 5`,
              ),
        );
        expect(fingerprint(repo), `${name} changed the repository`).toEqual(
          repoBefore,
        );
        expect(cacheFingerprint(cacheDir), `${name} changed the cache`).toEqual(
          cacheBefore,
        );
      }
      expect(fingerprint(target)).toEqual(["<absent>"]);
      expect(readPin(cacheDir)).toEqual(pinBefore);

      // The real repository put back is accepted again: the refusals left nothing behind.
      rmSync(repo, { recursive: true });
      cpSync(join(dir, "real"), repo, { recursive: true });
      const again = await cli(["snapshots", repo]);
      expect(again.code, again.stderr).toBe(0);
      await removeDir(dir);
    });
  });
});
