/**
 * T10 (issue 6): kill -9 during backup, of the client (locally and over ssh) and of the
 * server-side `serve` process, at seeded points. After each kill:
 *
 * - SQLite's own integrity check of the repository says "ok" (run first, before anything else
 *   opens the database);
 * - `blindsync check --read-data` passes (blobs the killed backup stored without a snapshot are
 *   orphans, which are fine: the next backup reuses them and prune removes them);
 * - every earlier snapshot restores exactly (restored in process through the restore engine, one
 *   restore per distinct root tree, compared file by file with what the source held when that
 *   snapshot was taken); a snapshot the killed backup managed to write must match the tree it
 *   was given;
 * - the next backup completes and its snapshot restores exactly through the CLI.
 *
 * Kill points: half the kills come after a seeded random delay within the duration of the last
 * complete backup (startup, unlock, walk, upload, snapshot write are all reachable), half right
 * after the backup's first committed batch plus a seeded delay (so that many kills land in the
 * middle of the upload). A kill that comes after the process already exited is counted, not
 * failed; each series requires that most kills landed.
 *
 * Locks: a backup holds a SHARED lease (60 s) in the repository, renewed while it runs. A
 * process killed with SIGKILL cannot release it, so the next backup finds the dead process's
 * shared lease. Shared leases do not block other backups (the next backup below succeeds at
 * once), but they block `prune` until they expire; this test never prunes.
 *
 * Counts: local client kills 5 in CI, 50 long; over ssh 2 and 20; `serve` kills 1 and 20.
 */
import {
  chmodSync,
  existsSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { restoreSnapshot } from "../../src/engine/index.js";
import { Repository } from "../../src/repo/index.js";
import { SqliteStore, sqliteIntegrityCheck } from "../../src/store/index.js";
import { toHex } from "../../src/util/bytes.js";
import { CLI, PROJECT_ROOT, runCli, spawnCli } from "../helpers/cli.js";
import { TEST_PASSWORD } from "../helpers/constants.js";
import { count } from "../helpers/counts.js";
import { databaseOf, storedBlobCount } from "../helpers/database.js";
import { fingerprint } from "../helpers/files.js";
import { Prng, seededBytes } from "../helpers/prng.js";
import {
  type Described,
  describeTree,
  directoryDifferences,
  removeDir,
  tempDir,
  treeDifferences,
  writeBigFiles,
} from "../helpers/trees.js";
import { startSshd, type Sshd } from "../helpers/sshd.js";

const FILES = count(10, 16);
const REWRITTEN_PER_ROUND = 3;

type Victim = "client" | "serve";

interface SeriesOptions {
  readonly name: string;
  readonly seed: number;
  readonly rounds: number;
  readonly victim: Victim;
  /** Set for the ssh series: the sshd to reach the repository through. */
  readonly sshd?: () => Sshd;
}

interface KillOutcome {
  readonly landed: boolean;
  readonly how: string;
  /** A journal was left behind: the kill cut a write transaction. */
  readonly journal?: boolean;
}

/**
 * One series: a repository, a source tree of ~1 MiB files, and `rounds` rounds of
 * mutate → backup killed at a seeded point → verify → next backup → verify.
 */
function crashSeries(options: SeriesOptions): void {
  describe(options.name, () => {
    const random = new Prng(options.seed);
    let work: string;
    let repoDir: string;
    let location: string;
    let source: string;
    let cacheDir: string;
    let servePidFile: string;
    let env: Record<string, string>;
    /** What the source held when each snapshot (hex id) was taken. */
    const expected = new Map<string, Map<string, Described>>();
    let lastDuration = 1000;
    let nextFile = FILES;
    const outcomes: KillOutcome[] = [];

    const cli = (args: string[]) => runCli(args, { cacheDir, env });
    const journalFile = (): string => `${databaseOf(repoDir)}-journal`;

    beforeAll(async () => {
      work = await tempDir("blindsync-crash-");
      repoDir = join(work, "repo");
      source = join(work, "source");
      cacheDir = join(work, "cache");
      servePidFile = join(work, "serve.pid");
      env = {};
      const sshd = options.sshd?.();
      if (sshd === undefined) {
        location = repoDir;
      } else {
        // A wrapper records the pid of `serve` (exec keeps it), so the test can kill -9 it.
        const wrapper = join(work, "serve-wrapper.sh");
        writeFileSync(
          wrapper,
          `#!/bin/sh\necho $$ > ${servePidFile}\nexec ${process.execPath} ${CLI} "$@"\n`,
        );
        chmodSync(wrapper, 0o755);
        location = `127.0.0.1:${repoDir}`;
        env = { BLINDSYNC_SSH: sshd.sshCommand, BLINDSYNC_REMOTE_CMD: wrapper };
      }
      await writeBigFiles(source, options.seed, FILES);
      // Set-up and `check` run on the repository's own path (server-side, for the ssh series):
      // what is under test is the killed backup and the next one, which go through `location`.
      const init = await cli(["init", repoDir]);
      expect(init.code, init.stderr).toBe(0);
      const started = Date.now();
      const first = await cli(["backup", source, repoDir]);
      expect(first.code, first.stderr).toBe(0);
      lastDuration = Date.now() - started;
      const ids = await snapshotIds();
      expect(ids).toHaveLength(1);
      expected.set(ids[0] ?? "", describeTree(source));
    });

    afterAll(async () => {
      // Most kills must have landed while the process ran, or the series proved little.
      const landed = outcomes.filter((outcome) => outcome.landed).length;
      await removeDir(work);
      expect(landed, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(
        Math.ceil(options.rounds / 2),
      );
    });

    /** Opens the repository in process (this also rolls back a hot journal, as every open does). */
    async function withRepo<T>(
      action: (repo: Repository) => Promise<T>,
    ): Promise<T> {
      const store = await SqliteStore.open(repoDir);
      try {
        const repo = await Repository.open(
          store,
          new TextEncoder().encode(TEST_PASSWORD),
        );
        return await action(repo);
      } finally {
        await store.close();
      }
    }

    async function snapshotIds(): Promise<string[]> {
      return withRepo(async (repo) =>
        (await repo.listSnapshots()).map((snapshot) => toHex(snapshot.id)),
      );
    }

    /** Restores every snapshot (once per distinct root tree) and compares it with its source. */
    async function verifyEverySnapshot(
      pending: Map<string, Described>,
      { onlyNew = false }: { onlyNew?: boolean } = {},
    ): Promise<void> {
      await withRepo(async (repo) => {
        const snapshots = await repo.listSnapshots();
        const ids = new Set(snapshots.map((snapshot) => toHex(snapshot.id)));
        for (const id of expected.keys())
          expect(ids.has(id), `snapshot ${id} was lost`).toBe(true);
        const treesDone = new Map<string, Map<string, Described>>();
        let fresh = 0;
        for (const snapshot of snapshots) {
          const id = toHex(snapshot.id);
          let want = expected.get(id);
          if (want === undefined) {
            // Written by the killed backup just before it died, or by the next backup: either
            // way it must be the tree the backup was given.
            want = pending;
            expected.set(id, want);
            fresh++;
          } else if (onlyNew) continue;
          const tree = toHex(snapshot.tree);
          const done = treesDone.get(tree);
          if (done !== undefined) {
            expect(treeDifferences(want, done), `snapshot ${id}`).toEqual([]);
            continue;
          }
          const target = join(work, `verify-${id.slice(0, 12)}`);
          const result = await restoreSnapshot({
            repo,
            snapshot,
            target,
            sink: { progress: () => undefined, warn: () => undefined },
          });
          expect(result.errors, `restore of ${id}`).toBe(0);
          const got = describeTree(target);
          expect(treeDifferences(want, got), `snapshot ${id}`).toEqual([]);
          treesDone.set(tree, got);
          await removeDir(target);
        }
        if (onlyNew)
          expect(fresh, "the backup wrote no snapshot").toBeGreaterThan(0);
      });
    }

    /** Rewrites some files, adds one and deletes one: a few MiB to upload. */
    function mutate(round: number): void {
      const names = readdirSync(join(source, "even"))
        .map((name) => `even/${name}`)
        .concat(readdirSync(join(source, "odd")).map((name) => `odd/${name}`))
        .sort();
      for (let i = 0; i < REWRITTEN_PER_ROUND; i++) {
        const name = names[Math.floor(random.next() * names.length)];
        if (name === undefined) continue;
        const size = Math.floor((0.75 + random.next() * 0.5) * 1024 * 1024);
        writeFileSync(
          join(source, name),
          seededBytes(options.seed * 7919 + round * 31 + i, size),
        );
      }
      const victim = names[Math.floor(random.next() * names.length)];
      if (victim !== undefined) rmSync(join(source, victim), { force: true });
      const added = nextFile++;
      writeFileSync(
        join(source, added % 2 === 0 ? "even" : "odd", `new-${added}.bin`),
        seededBytes(options.seed * 104729 + added, 1024 * 1024 + added),
      );
    }

    /** Runs a backup and kills the client or `serve` at a seeded point. */
    async function killedBackup(): Promise<KillOutcome> {
      rmSync(servePidFile, { force: true });
      const before = storedBlobCount(repoDir);
      const backup = spawnCli(["backup", source, location], { cacheDir, env });
      let how: string;
      const mode = random.next();
      if (mode < 1 / 3) {
        const delay = Math.floor(random.next() * lastDuration);
        how = `after ${delay} ms`;
        await sleep(delay);
      } else if (mode < 2 / 3) {
        const extra = Math.floor(random.next() * 150);
        how = `${extra} ms after the first committed batch`;
        while (!backup.exited() && storedBlobCount(repoDir) === before)
          await sleep(5);
        await sleep(extra);
      } else {
        const extra = Math.floor(random.next() * 20);
        how = `${extra} ms into a write transaction (journal present)`;
        while (!backup.exited() && !existsSync(journalFile())) await sleep(2);
        await sleep(extra);
      }
      let landed = false;
      if (!backup.exited()) {
        if (options.victim === "client") {
          landed = backup.child.kill("SIGKILL");
        } else {
          // serve may not have started yet when the delay was short: wait for its pid.
          while (!backup.exited() && !existsPid(servePidFile)) await sleep(5);
          const pid = readPid(servePidFile);
          if (!backup.exited() && pid !== undefined) {
            try {
              process.kill(pid, "SIGKILL");
              landed = true;
            } catch {
              landed = false;
            }
          }
        }
      }
      const result = await backup.done;
      // The process may have exited on its own just before the signal (a zombie accepts it).
      if (options.victim === "client" && result.signal !== "SIGKILL")
        landed = false;
      // A serve killed after its last answer breaks nothing: the backup then succeeded.
      if (options.victim === "serve" && result.code === 0) landed = false;
      if (!landed) {
        // Too late: the backup finished on its own, and must have succeeded.
        expect(result.code, result.stderr).toBe(0);
      } else if (options.victim === "client") {
        expect(result.signal).toBe("SIGKILL");
      } else {
        // The client sees the connection break (or had just finished).
        expect(result.signal).toBeNull();
      }
      return { landed, how, journal: existsSync(journalFile()) };
    }

    for (let round = 1; round <= options.rounds; round++) {
      it(`round ${round}: after kill -9 of the ${options.victim}, the database is intact, check --read-data passes, every snapshot restores exactly, and the next backup completes and restores exactly`, async () => {
        mutate(round);
        const pending = describeTree(source);
        outcomes.push(await killedBackup());

        // Nothing has opened the database since the kill.
        expect(sqliteIntegrityCheck(repoDir)).toBe("ok");

        const check = await cli(["check", "--read-data", repoDir]);
        expect(check.code, check.stderr).toBe(0);

        await verifyEverySnapshot(pending);

        const started = Date.now();
        const next = await cli(["backup", source, location]);
        expect(next.code, next.stderr).toBe(0);
        lastDuration = Date.now() - started;
        // The new snapshot restores exactly (in process); the last round also through the CLI,
        // root directory metadata included.
        await verifyEverySnapshot(pending, { onlyNew: true });
        if (round === options.rounds) {
          const target = join(work, "restored");
          const restore = await cli(["restore", location, target]);
          expect(restore.code, restore.stderr).toBe(0);
          expect(directoryDifferences(source, target)).toEqual([]);
          await removeDir(target);
        }
        expect(sqliteIntegrityCheck(repoDir)).toBe("ok");
      });
    }
  });
}

function existsPid(file: string): boolean {
  return readPid(file) !== undefined;
}

function readPid(file: string): number | undefined {
  try {
    const text = readFileSync(file, "utf8").trim();
    const pid = Number(text);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A writer killed inside a transaction whose dirty pages already spilled into the database file
 * (the case a kill during a large put produces): a hot journal. Built deterministically by a
 * child process that writes 8 MiB and deletes the key slots in one transaction with a tiny page
 * cache, then kills itself.
 */
const HALF_WRITTEN_TRANSACTION = `
const Database = require("better-sqlite3");
const db = new Database(process.argv[1], { fileMustExist: true });
db.pragma("cache_size = 4");
db.exec("BEGIN IMMEDIATE");
const insert = db.prepare("INSERT INTO blob_data (data) VALUES (?)");
for (let i = 0; i < 8; i++) insert.run(Buffer.alloc(1 << 20, 7));
db.prepare("DELETE FROM key_slots").run();
process.kill(process.pid, "SIGKILL");
`;

describe("T10 kill -9 during backup", () => {
  it("a transaction cut by kill -9 (a hot journal) is rolled back: the integrity check says ok, the bytes are those of before, and the snapshot restores", async () => {
    const work = await tempDir("blindsync-hot-journal-");
    try {
      const repo = join(work, "repo");
      const source = await writeBigFiles(join(work, "source"), 4040, 2);
      const cacheDir = join(work, "cache");
      expect((await runCli(["init", repo], { cacheDir })).code).toBe(0);
      const backup = await runCli(["backup", source, repo], { cacheDir });
      expect(backup.code, backup.stderr).toBe(0);
      const before = fingerprint(repo);
      const writer = spawnSync(
        process.execPath,
        ["-e", HALF_WRITTEN_TRANSACTION, databaseOf(repo)],
        { cwd: PROJECT_ROOT, encoding: "utf8" },
      );
      expect(writer.signal, writer.stderr).toBe("SIGKILL");
      expect(existsSync(`${databaseOf(repo)}-journal`)).toBe(true);
      expect(fingerprint(repo)).not.toEqual(before);

      expect(sqliteIntegrityCheck(repo)).toBe("ok");
      expect(fingerprint(repo)).toEqual(before);
      const target = join(work, "restored");
      const restore = await runCli(["restore", repo, target], { cacheDir });
      expect(restore.code, restore.stderr).toBe(0);
      expect(directoryDifferences(source, target)).toEqual([]);
    } finally {
      await removeDir(work);
    }
  });

  crashSeries({
    name: "the local client killed at seeded points",
    seed: 1010,
    rounds: count(5, 50),
    victim: "client",
  });

  describe("over ssh", () => {
    let sshd: Sshd | undefined;
    beforeAll(async () => {
      sshd = await startSshd();
    });
    afterAll(async () => {
      await sshd?.stop();
    });
    const get = (): Sshd => {
      if (sshd === undefined) throw new Error("sshd did not start");
      return sshd;
    };
    crashSeries({
      name: "the client killed at seeded points",
      seed: 2020,
      rounds: count(2, 20),
      victim: "client",
      sshd: get,
    });
    crashSeries({
      name: "the server-side serve process killed at seeded points",
      seed: 3030,
      rounds: count(1, 20),
      victim: "serve",
      sshd: get,
    });
  });
});
