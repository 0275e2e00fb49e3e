/**
 * Pack repositories survive a crash on either side, through the built CLI on each backend
 * (issue 19, "Must show"): the client killed with SIGKILL mid-backup, then a re-run stores
 * only what the killed run had not (the packs it left are found again, through the segments it
 * wrote or, for a pack no segment names, through its trailer) and `check --read-data` exits 0.
 * And on sftp and S3, the server side killed mid-backup (OpenSSH's sftp-server, s3rver): the
 * client exits 1 with a clear message and no stack trace, nothing committed is lost, and a
 * re-run with the server back completes.
 *
 * The remote backups go through a transport held to a fixed rate (slow-pipe.js in front of ssh,
 * slow-proxy.js in front of s3rver) so they are surely mid-way when killed; the local directory
 * has nothing to slow, so its tree is larger and the test polls the packs as they appear.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  isCleanError,
  runCli,
  spawnCli,
  type KillableCli,
} from "../helpers/cli.js";
import {
  PACK_BACKENDS,
  startPackBackend,
  type PackBackend,
} from "../helpers/pack-backends.js";
import {
  describeTree,
  directoryDifferences,
  removeDir,
  tempDir,
  writeBigFiles,
} from "../helpers/trees.js";

/** Uploads through the slowed transports: 12 MiB take about 4 s. */
const RATE = 3 * 1024 * 1024;
/**
 * The killed runs close 4 MiB packs (BLINDSYNC_PACK_SIZE, in MiB), so that the 12 MiB trees
 * of the remote backends have packs stored mid-way; the local directory's 40 MiB tree keeps
 * the default 16 MiB packs. Either way the packs stored before the kill wait for the segment
 * of the next flush, so the re-run finds them by their trailers.
 */
const SMALL_PACKS = { BLINDSYNC_PACK_SIZE: "4" };

/** `count()` once it has not changed for a second (at most 15 s of waiting). */
async function settledBytes(count: () => number): Promise<number> {
  const deadline = Date.now() + 15_000;
  let last = count();
  let stableSince = Date.now();
  while (Date.now() - stableSince < 1000 && Date.now() < deadline) {
    await sleep(100);
    const now = count();
    if (now !== last) {
      last = now;
      stableSince = Date.now();
    }
  }
  return last;
}

/** Waits until `ready()`, failing if the backup ends first or nothing happens in 60 s. */
async function whileRunning(
  running: KillableCli,
  ready: () => boolean,
  what: string,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!ready()) {
    expect(running.exited(), `the backup ended before ${what}`).toBe(false);
    expect(Date.now(), `no ${what} within 60 s`).toBeLessThan(deadline);
    await sleep(20);
  }
}

describe.each(PACK_BACKENDS)(
  "a pack repository on %s survives a crash",
  (kind) => {
    let backend: PackBackend;
    let work: string;
    let cacheDir: string;
    const cli = (args: string[], env = backend.env()) =>
      runCli(args, { cacheDir, env });

    beforeAll(async () => {
      backend = await startPackBackend(kind);
      work = await tempDir(`blindsync-packs-kill-${kind}-`);
      cacheDir = join(work, "cache");
    });

    afterAll(async () => {
      await backend.stop();
      await removeDir(work);
    });

    it("kill -9 of the client mid-backup: the re-run stores only the rest, and check --read-data exits 0", async () => {
      const name = "client-killed";
      const repo = backend.location(name);
      const source = await writeBigFiles(
        join(work, "source-client"),
        11,
        kind === "dir" ? 40 : 12,
      );
      expect((await cli(backend.initArgs(name))).code).toBe(0);
      const slow = await backend.slowEnv(RATE);
      const running = spawnCli(["backup", source, repo], {
        cacheDir,
        env: slow === undefined ? backend.env() : { ...slow, ...SMALL_PACKS },
      });
      // More than 4 MiB of packs stored, counted in bytes rather than packs: a batch may close
      // below 4 MiB (two packs held 3.4 MiB in one CI run on s3).
      await whileRunning(
        running,
        () => backend.storedBytes(name, "packs/") > 4 * 1024 * 1024,
        "more than 4 MiB of packs were stored",
      );
      running.child.kill("SIGKILL");
      const killed = await running.done;
      expect(killed.signal).toBe("SIGKILL");
      expect(backend.objects(name, "snapshots/")).toEqual([]);
      // The slow proxy may still deliver a pack the client had finished sending before it
      // died, and the server then stores it: what the killed run stored is counted once
      // nothing more arrives, or the re-run would be charged for that pack.
      const storedByKilled = await settledBytes(() =>
        backend.storedBytes(name, "packs/"),
      );

      const rerun = await cli(["--json", "backup", source, repo]);
      expect(rerun.code, rerun.stderr).toBe(0);
      const added = backend.storedBytes(name, "packs/") - storedByKilled;
      const sourceBytes = [...describeTree(source).values()].reduce(
        (sum, entry) => sum + entry.size,
        0,
      );
      // The re-run stored the rest of the tree, not the whole of it again: what the killed
      // run left is found and used (sealing pads each blob by a few percent, hence a slack of
      // half what the killed run stored), and nothing is stored twice.
      expect(storedByKilled).toBeGreaterThan(4 * 1024 * 1024);
      expect(added).toBeGreaterThan(0);
      expect(added).toBeLessThan(sourceBytes - storedByKilled / 2);
      expect(storedByKilled + added).toBeLessThan(
        sourceBytes * 1.08 + 512 * 1024,
      );

      const check = await cli(["check", "--read-data", repo]);
      expect(check.code, check.stderr + check.stdout).toBe(0);
      const target = join(work, "restored-client");
      const restore = await cli(["restore", repo, target]);
      expect(restore.code, restore.stderr).toBe(0);
      expect(directoryDifferences(source, target)).toEqual([]);
    });

    if (kind !== "dir")
      it("the server side killed mid-backup: exit 1 with a clear message, nothing committed lost, a re-run with the server back completes", async () => {
        const name = "server-killed";
        const repo = backend.location(name);
        const source = join(work, "source-server");
        await writeBigFiles(source, 12, 2);
        expect((await cli(backend.initArgs(name))).code).toBe(0);
        const first = await cli(["backup", source, repo]);
        expect(first.code, first.stderr).toBe(0);
        const committed = join(work, "restored-committed");
        expect((await cli(["restore", repo, committed])).code).toBe(0);
        const [snapshot] = backend.objects(name, "snapshots/");

        await writeBigFiles(source, 13, 12, (index) => `more/${index}.bin`);
        const packsBefore = backend.objects(name, "packs/").length;
        const running = spawnCli(["backup", source, repo], {
          cacheDir,
          env: { ...(await backend.slowEnv(RATE))!, ...SMALL_PACKS },
        });
        await whileRunning(
          running,
          () => backend.objects(name, "packs/").length > packsBefore,
          "a pack of the second backup was stored",
        );
        await backend.killServer!();
        const failed = await running.done;
        expect(failed.code, failed.stderr).toBe(1);
        expect(isCleanError(failed.stderr), failed.stderr).toBe(true);
        expect(failed.stderr).toMatch(/^blindsync: /m);

        await backend.restartServer!();
        // Nothing committed is lost: the first snapshot is there, restores and checks clean.
        expect(backend.objects(name, "snapshots/")).toEqual([snapshot]);
        const check = await cli(["check", "--read-data", repo]);
        expect(check.code, check.stderr + check.stdout).toBe(0);
        const again = join(work, "restored-after-kill");
        const restoreOld = await cli(["restore", repo, again]);
        expect(restoreOld.code, restoreOld.stderr).toBe(0);
        expect(directoryDifferences(committed, again)).toEqual([]);

        const rerun = await cli(["backup", source, repo]);
        expect(rerun.code, rerun.stderr).toBe(0);
        const target = join(work, "restored-server");
        const restore = await cli(["restore", repo, target]);
        expect(restore.code, restore.stderr).toBe(0);
        expect(directoryDifferences(source, target)).toEqual([]);
        const checkAfter = await cli(["check", "--read-data", repo]);
        expect(checkAfter.code, checkAfter.stderr + checkAfter.stdout).toBe(0);
        rmSync(committed, { recursive: true, force: true });
      });
  },
);
