/**
 * Space and concurrency on pack repositories, through the built CLI on each backend (issue 19):
 * `forget --prune` gives back the space of a forgotten snapshot's data; a prune beside a running
 * backup (which holds its shared lease as a locks/ object) waits for it or exits 11 and never
 * deletes what the backup stores; and two clients with caches of their own backing up to one
 * repository at once both restore exactly. After each, `check --read-data` exits 0.
 *
 * The remote backups beside a prune go through a transport held to a fixed rate (slow-pipe.js,
 * slow-proxy.js) so they surely run while the prune starts; the local directory has nothing to
 * slow, so its backup is given more to store.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  runCli,
  spawnCli,
  type CliResult,
  type KillableCli,
} from "../helpers/cli.js";
import {
  PACK_BACKENDS,
  startPackBackend,
  type PackBackend,
} from "../helpers/pack-backends.js";
import {
  directoryDifferences,
  removeDir,
  tempDir,
  writeBigFiles,
} from "../helpers/trees.js";

const MiB = 1024 * 1024;
/** Uploads through the slowed transports: 12 MiB take about 4 s. */
const RATE = 3 * MiB;

function snapshotIds(result: CliResult): string[] {
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { id: string }[]).map(
    (snapshot) => snapshot.id,
  );
}

/** The snapshot a `--json backup` saved. */
function savedSnapshot(result: CliResult): string {
  expect(result.code, result.stderr).toBe(0);
  const summary = JSON.parse(result.stdout.trim().split("\n").at(-1)!) as {
    snapshot?: string;
  };
  expect(summary.snapshot).toMatch(/^[0-9a-f]{64}$/);
  return summary.snapshot!;
}

describe.each(PACK_BACKENDS)(
  "a pack repository on %s: prune and concurrent clients",
  (kind) => {
    let backend: PackBackend;
    let work: string;
    let cacheDir: string;
    const cli = (args: string[], cache = cacheDir, env = backend.env()) =>
      runCli(args, { cacheDir: cache, env });

    /** Waits until the running backup holds a lease and has stored a pack. */
    async function leaseHeld(
      running: KillableCli,
      name: string,
      packsBefore: number,
    ): Promise<void> {
      const deadline = Date.now() + 60_000;
      while (
        backend.objects(name, "locks/").length === 0 ||
        backend.objects(name, "packs/").length <= packsBefore
      ) {
        expect(running.exited(), "the backup ended before the prune").toBe(
          false,
        );
        expect(Date.now()).toBeLessThan(deadline);
        await sleep(20);
      }
    }

    beforeAll(async () => {
      backend = await startPackBackend(kind);
      work = await tempDir(`blindsync-packs-prune-${kind}-`);
      cacheDir = join(work, "cache");
    });

    afterAll(async () => {
      await backend.stop();
      await removeDir(work);
    });

    it("forget --prune frees the space of a forgotten snapshot's data; the rest checks clean and restores exactly", async () => {
      const name = "forget";
      const repo = backend.location(name);
      const source = await writeBigFiles(join(work, "source-forget"), 31, 2);
      expect((await cli(backend.initArgs(name))).code).toBe(0);
      writeFileSync(join(source, "going-away.bin"), randomBytes(6 * MiB));
      expect((await cli(["backup", source, repo])).code).toBe(0);
      rmSync(join(source, "going-away.bin"));
      expect((await cli(["backup", source, repo])).code).toBe(0);

      const before = backend.storedBytes(name, "packs/");
      const forget = await cli(["forget", repo, "--keep-last", "1", "--prune"]);
      expect(forget.code, forget.stderr).toBe(0);
      const after = backend.storedBytes(name, "packs/");
      // Most of the 6 MiB, not all: a pack at most a fifth unused is kept as it is
      // (compact.ts MAX_UNUSED), so the file's last chunk, of any size, may stay behind in a
      // pack of live blobs until a later prune (one run freed 6,161,540 bytes).
      expect(before - after).toBeGreaterThan(5 * MiB);
      expect(backend.objects(name, "snapshots/")).toHaveLength(1);

      const check = await cli(["check", "--read-data", repo]);
      expect(check.code, check.stderr + check.stdout).toBe(0);
      const target = join(work, "restored-forget");
      const restore = await cli(["restore", repo, target]);
      expect(restore.code, restore.stderr).toBe(0);
      expect(directoryDifferences(source, target)).toEqual([]);
    });

    it("forget --prune beside a running backup: exits 11 with --lock-wait 0, waits for it otherwise, and never deletes what it stores", async () => {
      const name = "beside";
      const repo = backend.location(name);
      const source = join(work, "source-beside");
      mkdirSync(source);
      expect((await cli(backend.initArgs(name))).code).toBe(0);
      // Only the first snapshot holds this file: forgetting it leaves its blobs unused, until
      // the backup beside the prune finds them stored and uses them again. A prune that did
      // not see the backup's lease would delete them under it.
      const onlyFirst = randomBytes(MiB);
      writeFileSync(join(source, "only-first.bin"), onlyFirst);
      expect((await cli(["backup", source, repo])).code).toBe(0);
      rmSync(join(source, "only-first.bin"));
      writeFileSync(join(source, "notes.txt"), "round 2\n");
      expect((await cli(["backup", source, repo])).code).toBe(0);
      const [, second] = snapshotIds(await cli(["snapshots", "--json", repo]));
      writeFileSync(join(source, "only-first.bin"), onlyFirst);
      await writeBigFiles(source, 32, kind === "dir" ? 32 : 12, (index) =>
        join("big", `${index}.bin`),
      );
      const packsBefore = backend.objects(name, "packs/").length;
      const slow = await backend.slowEnv(RATE);
      const running = spawnCli(["--json", "backup", source, repo], {
        cacheDir,
        env: slow ?? backend.env(),
      });
      await leaseHeld(running, name, packsBefore);
      // Stopped mid-backup, as a laptop suspended: it holds its lease and has stored part of its
      // data, and the test decides when it goes on, whatever the machine's speed.
      running.child.kill("SIGSTOP");
      try {
        expect(backend.objects(name, "snapshots/")).toHaveLength(2);
        const refused = await cli([
          "forget",
          repo,
          "--keep-last",
          "1",
          "--prune",
          "--lock-wait",
          "0",
        ]);
        expect(refused.code, refused.stderr).toBe(11);
        expect(refused.stderr).toMatch(/locked/);
        // The forget part ran; the prune deleted nothing.
        expect(snapshotIds(await cli(["snapshots", "--json", repo]))).toEqual([
          second,
        ]);
        expect(backend.objects(name, "packs/").length).toBeGreaterThan(
          packsBefore,
        );
      } finally {
        running.child.kill("SIGCONT");
      }
      running.child.kill("SIGSTOP");
      const prune = spawnCli(["prune", repo], {
        cacheDir: join(work, "cache-prune"),
        env: backend.env(),
      });
      try {
        // The prune waits for the lease, however long it takes to get there.
        await sleep(3000);
        expect(prune.exited(), "the prune did not wait for the backup").toBe(
          false,
        );
      } finally {
        running.child.kill("SIGCONT");
      }
      const backup = await running.done;
      const third = savedSnapshot(backup);
      const pruned = await prune.done;
      expect(pruned.code, pruned.stderr).toBe(0);

      expect(snapshotIds(await cli(["snapshots", "--json", repo]))).toEqual([
        second,
        third,
      ]);
      const check = await cli(["check", "--read-data", repo]);
      expect(check.code, check.stderr + check.stdout).toBe(0);
      const target = join(work, "restored-beside");
      const restore = await cli(["restore", repo, target, "--snapshot", third]);
      expect(restore.code, restore.stderr).toBe(0);
      expect(directoryDifferences(source, target)).toEqual([]);
    });

    it("two clients with caches of their own back up to one repository at once: both restore exactly", async () => {
      const name = "two-clients";
      const repo = backend.location(name);
      // The same files on both machines (both race to store the same blobs), plus one of each's own.
      const sourceA = await writeBigFiles(join(work, "source-a"), 41, 6);
      const sourceB = await writeBigFiles(join(work, "source-b"), 41, 6);
      writeFileSync(join(sourceA, "only-a.bin"), randomBytes(2 * MiB));
      writeFileSync(join(sourceB, "only-b.bin"), randomBytes(2 * MiB));
      expect((await cli(backend.initArgs(name))).code).toBe(0);

      const cacheA = join(work, "cache-a");
      const cacheB = join(work, "cache-b");
      const [a, b] = await Promise.all([
        cli(["--json", "backup", sourceA, repo], cacheA),
        cli(["--json", "backup", sourceB, repo], cacheB),
      ]);
      const snapshotA = savedSnapshot(a);
      const snapshotB = savedSnapshot(b);
      expect(backend.objects(name, "snapshots/").sort()).toEqual(
        [`snapshots/${snapshotA}`, `snapshots/${snapshotB}`].sort(),
      );

      // Each restores from the other's client too, and a third, fresh one checks everything.
      for (const [snapshot, source, cache] of [
        [snapshotA, sourceA, cacheB],
        [snapshotB, sourceB, cacheA],
      ] as const) {
        const target = join(work, `restored-${snapshot.slice(0, 8)}`);
        const restore = await cli(
          ["restore", repo, target, "--snapshot", snapshot],
          cache,
        );
        expect(restore.code, restore.stderr).toBe(0);
        expect(directoryDifferences(source, target)).toEqual([]);
      }
      const check = await cli(
        ["check", "--read-data", repo],
        join(work, "cache-c"),
      );
      expect(check.code, check.stderr + check.stdout).toBe(0);
    });
  },
);
