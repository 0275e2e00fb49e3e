/**
 * T1 on remote pack repositories (issue 19): a byte flipped by the storage's owner inside a
 * blob of a data pack over sftp (the account runs only OpenSSH's sftp-server) and on s3rver.
 * `check --read-data` names exactly that blob and its file, and the pack it read whole that no
 * longer hashes to its name (exit 13), restore writes every
 * other file exactly and exits 13, and a keyless `scrub` of the same location names the pack.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCleanError, jsonProblems, runCli } from "../helpers/cli.js";
import { expectedAfterDamage } from "../helpers/damage.js";
import { restoreDebris } from "../helpers/files.js";
import { flipByte, readPack } from "../helpers/pack-files.js";
import {
  startPackStorage,
  type PackStorage,
  type StorageKind,
} from "../helpers/pack-storage.js";
import { seededBytes } from "../helpers/prng.js";
import {
  describeTree,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";
import { promises as fsp } from "node:fs";

describe.each(["sftp", "s3"] as StorageKind[])(
  "a flipped byte in a pack on %s",
  (kind) => {
    let storage: PackStorage;
    let work: string;

    beforeAll(async () => {
      storage = await startPackStorage(kind);
      work = await tempDir(`blindsync-packs-remote-tamper-${kind}-`);
    }, 120_000);

    afterAll(async () => {
      await storage.stop();
      await removeDir(work);
    });

    it("is caught blob by blob by check --read-data and restore (13), and check --read-data and scrub name the pack", async () => {
      const source = join(work, "source");
      await fsp.mkdir(source);
      for (let file = 0; file < 4; file++)
        await fsp.writeFile(
          join(source, `f${file}.bin`),
          seededBytes(file + 40, 30_000),
        );
      const cacheDir = join(work, "cache");
      const cli = (
        args: string[],
        env: Record<string, string | undefined> = {},
      ) => runCli(args, { cacheDir, env: { ...storage.env, ...env } });
      const repo = storage.location("tamper");
      expect((await cli(storage.initArgs("tamper"))).code).toBe(0);
      const backup = await cli(["backup", source, repo]);
      expect(backup.code, backup.stderr).toBe(0);

      const packsDir = join(storage.root("tamper"), "packs");
      const packs = readdirSync(packsDir, { recursive: true, encoding: "utf8" })
        .map((name) => join(packsDir, name))
        .filter((path) => statSync(path).isFile())
        // s3rver keeps each object's metadata in a file beside its bytes.
        .filter((path) => kind !== "s3" || path.endsWith("._S3rver_object"))
        .map(readPack);
      const pack = packs.find((candidate) => candidate.kind === "data");
      const victim = pack?.blobs[1];
      if (pack === undefined || victim === undefined)
        throw new Error("no data pack");
      flipByte(pack.path, victim.offset + Math.floor(victim.length / 2));

      const check = await cli(["--json", "check", "--read-data", repo]);
      expect(check.code, check.stderr).toBe(13);
      const packName = `packs/${pack.id.slice(0, 2)}/${pack.id}`;
      const problems = jsonProblems(check.stdout);
      expect(
        problems.map((problem) => [problem.kind, problem.id]),
      ).toStrictEqual([
        ["damaged-blob", victim.id],
        ["damaged-pack", packName],
      ]);
      const damagedPaths = problems[0]?.paths ?? [];
      expect(damagedPaths).toHaveLength(1);

      const target = join(work, "restored");
      const restore = await cli(["restore", repo, target]);
      expect(restore.code, restore.stderr).toBe(13);
      expect(isCleanError(restore.stderr), restore.stderr).toBe(true);
      expect(restoreDebris(target)).toStrictEqual([]);
      expect(
        treeDifferences(
          expectedAfterDamage(describeTree(source), damagedPaths, undefined),
          describeTree(target),
        ),
      ).toStrictEqual([]);

      const scrub = await cli(["scrub", repo], {
        BLINDSYNC_PASSWORD: undefined,
      });
      expect(scrub.code, scrub.stderr).toBe(13);
      expect(scrub.stdout).toContain(`damaged object ${packName}`);
    });
  },
);
