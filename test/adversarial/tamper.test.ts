/**
 * T1, T2, T3 of the adversarial suite: a server that flips bits in, truncates, extends, zeroes,
 * swaps, relabels or transplants stored blobs. Every case must be an integrity error (exit 13):
 * `check --read-data` names exactly the damaged blobs and the files they belong to, and
 * `restore` writes no damaged byte under a real name (into a fresh directory, or in place over
 * an older copy whose files must stay as they were), leaves no temporary file behind, restores
 * everything else exactly, and exits non-zero.
 *
 * Which file uses which blob is read independently of `check`, with the library, before any
 * damage (readLayout in test/helpers/repositories.ts). Each round damages a fresh copy of one
 * pristine repository. Counts: count(ci, long) per row; `npm run test:long` runs the issue's
 * counts.
 */
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromHex, toHex } from "../../src/util/bytes.js";
import { CLI, isCleanError, jsonProblems, runCli } from "../helpers/cli.js";
import { KIND } from "../helpers/constants.js";
import { count } from "../helpers/counts.js";
import {
  expectedAfterDamage,
  expectRestoreSkipsDamaged,
} from "../helpers/damage.js";
import {
  blobRows,
  copyRepository,
  databaseOf,
  readStored,
  writeStored,
} from "../helpers/database.js";
import { restoreDebris, sha256File } from "../helpers/files.js";
import { Prng } from "../helpers/prng.js";
import {
  pristineRepository,
  type PristineRepository,
} from "../helpers/repositories.js";
import {
  buildStaleCopy,
  describeTree,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";

const T1_BLOBS = count(10, 100);
const T2_EACH = count(3, 20);
const T3_SWAPS = count(4, 50);
const T3_UNDER_TREE = count(2, 5);
const T3_UNDER_SNAPSHOT = count(1, 5);
const T3_FOREIGN = count(2, 10);

/** Enough single-blob files for the largest round (T3's swaps take two blobs each). */
const FILES = Math.max(T1_BLOBS, 3 * T2_EACH, 2 * T3_SWAPS) + 20;
const DIRS = Math.max(8, T3_UNDER_TREE + 3);

describe("tampered stored blobs (T1, T2, T3)", () => {
  let work: string;
  let pristine: PristineRepository;
  let rounds = 0;

  beforeAll(async () => {
    work = await tempDir("blindsync-tamper-");
    pristine = await pristineRepository(work, {
      files: FILES,
      dirs: DIRS,
      seed: 6,
    });
    // One blob per file, the duplicated pair sharing one.
    expect(pristine.dataIds).toHaveLength(FILES + 2);
    expect([...pristine.layout.dataUsers.keys()].sort()).toStrictEqual(
      pristine.dataIds,
    );
  });

  afterAll(async () => {
    await removeDir(work);
  });

  /** A fresh copy of the pristine repository, with its own client cache. */
  async function newRound(): Promise<{
    dir: string;
    repo: string;
    cacheDir: string;
  }> {
    rounds++;
    const dir = join(work, `round-${rounds}`);
    const repo = join(dir, "repo");
    await copyRepository(pristine.repo, repo);
    return { dir, repo, cacheDir: join(dir, "cache") };
  }

  function usersOf(id: string): string[] {
    const users =
      pristine.layout.dataUsers.get(id) ?? pristine.layout.treeUsers.get(id);
    if (users === undefined) throw new Error(`unknown blob ${id}`);
    return users;
  }

  /**
   * The pass condition of T1–T3 for damaged data blobs and trees: check names exactly these,
   * with their paths, and exits 13; restore (fresh and in place) writes none of their files,
   * leaves no debris, restores the rest exactly and exits 13.
   */
  async function expectCaught(
    round: { dir: string; repo: string; cacheDir: string },
    damaged: readonly string[],
  ): Promise<void> {
    const { dir, repo, cacheDir } = round;
    const check = await runCli(["--json", "check", "--read-data", repo], {
      cacheDir,
    });
    expect(check.code, check.stderr).toBe(13);
    const problems = jsonProblems(check.stdout);
    expect(problems.map((problem) => problem.id).sort()).toStrictEqual(
      [...damaged].sort(),
    );
    for (const problem of problems) {
      expect(problem.severity).toBe("error");
      expect(
        [...problem.paths].sort(),
        `paths of ${problem.id.slice(0, 8)}`,
      ).toStrictEqual([...usersOf(problem.id)].sort());
    }
    const damagedPaths = [...new Set(damaged.flatMap(usersOf))];

    await expectRestoreSkipsDamaged({
      repo,
      target: join(dir, "fresh"),
      cacheDir,
      source: pristine.sourceTree,
      damagedPaths,
    });

    const stale = join(dir, "stale");
    await buildStaleCopy(pristine.source, stale);
    const before = describeTree(stale);
    const inPlace = await runCli(["restore", repo, stale], { cacheDir });
    expect(inPlace.code, inPlace.stderr).toBe(13);
    expect(restoreDebris(stale)).toStrictEqual([]);
    expect(
      treeDifferences(
        expectedAfterDamage(pristine.sourceTree, damagedPaths, before),
        describeTree(stale),
      ),
    ).toStrictEqual([]);
  }

  it(`T1: one flipped bit in each of ${T1_BLOBS} data blobs, across header, nonce, body and tag, is caught blob by blob`, async () => {
    const round = await newRound();
    const prng = new Prng(0x7101);
    const victims = prng.pick(pristine.dataIds, T1_BLOBS);
    const regions = new Set<string>();
    victims.forEach((id, index) => {
      const bytes = readStored(round.repo, fromHex(id));
      const region = (["header", "nonce", "body", "tag"] as const)[index % 4];
      if (region === undefined) throw new Error("unreachable");
      regions.add(region);
      const at =
        region === "header"
          ? prng.int(0, 8)
          : region === "nonce"
            ? prng.int(8, 40)
            : region === "body"
              ? prng.int(40, bytes.length - 16)
              : prng.int(bytes.length - 16, bytes.length);
      bytes[at] = (bytes[at] ?? 0) ^ (1 << prng.int(0, 8));
      writeStored(round.repo, fromHex(id), bytes);
    });
    expect(regions.size).toBe(Math.min(4, T1_BLOBS));
    await expectCaught(round, victims);
  });

  it(`T2: ${T2_EACH} truncated, ${T2_EACH} extended and ${T2_EACH} zeroed data blobs are each caught`, async () => {
    const round = await newRound();
    const prng = new Prng(0x7201);
    const victims = prng.pick(pristine.dataIds, 3 * T2_EACH);
    victims.forEach((id, index) => {
      const bytes = readStored(round.repo, fromHex(id));
      let damaged: Buffer;
      if (index % 3 === 0) {
        damaged = bytes.subarray(0, prng.int(0, bytes.length));
      } else if (index % 3 === 1) {
        const extra = Buffer.alloc(prng.int(1, 4096));
        for (let at = 0; at < extra.length; at++) extra[at] = prng.int(0, 256);
        damaged = Buffer.concat([bytes, extra]);
      } else {
        damaged = Buffer.alloc(bytes.length);
      }
      writeStored(round.repo, fromHex(id), damaged);
    });
    await expectCaught(round, victims);
  });

  it("T2: a data blob extended to 80 MiB is refused by the length check before any decryption or decompression", async () => {
    const round = await newRound();
    const victim = new Prng(0x7202).pick(pristine.dataIds, 1)[0] ?? "";
    const bytes = readStored(round.repo, fromHex(victim));
    const huge = Buffer.alloc(80 * 1024 * 1024);
    bytes.copy(huge);
    writeStored(round.repo, fromHex(victim), huge);
    const check = await runCli(["--json", "check", "--read-data", round.repo], {
      cacheDir: round.cacheDir,
    });
    expect(check.code, check.stderr).toBe(13);
    const problems = jsonProblems(check.stdout);
    expect(problems.map((problem) => problem.id)).toStrictEqual([victim]);
    // The first check of openBlob: the length against the cap (the chunker's maximum, sealed).
    expect(problems[0]?.reason).toMatch(
      new RegExp(
        `^has ${huge.length} bytes, outside the \\d+–\\d+ a blob may have$`,
      ),
    );
    await expectCaught(round, [victim]);
  });

  it("T2: the same 80 MiB blob read over `serve` is an integrity error of that blob, not a failed connection", async () => {
    const round = await newRound();
    const victim = new Prng(0x7203).pick(pristine.dataIds, 1)[0] ?? "";
    const huge = Buffer.alloc(80 * 1024 * 1024);
    readStored(round.repo, fromHex(victim)).copy(huge);
    writeStored(round.repo, fromHex(victim), huge);
    // An "ssh" that runs the remote command here: the real serve, over pipes.
    const fakeSsh = join(round.dir, "fake-ssh");
    writeFileSync(fakeSsh, '#!/bin/sh\nshift\nexec sh -c "$1"\n', {
      mode: 0o755,
    });
    const env = {
      BLINDSYNC_SSH: fakeSsh,
      BLINDSYNC_REMOTE_CMD: `${process.execPath} ${CLI}`,
    };
    const location = `localhost:${round.repo}`;
    const check = await runCli(["--json", "check", "--read-data", location], {
      cacheDir: round.cacheDir,
      env,
    });
    expect(check.code, check.stderr).toBe(13);
    const problems = jsonProblems(check.stdout);
    expect(problems.map((problem) => problem.id)).toStrictEqual([victim]);
    expect(problems[0]?.reason).toMatch(/more than any blob may have/);
    const target = join(round.dir, "fresh");
    const restore = await runCli(["restore", location, target], {
      cacheDir: round.cacheDir,
      env,
    });
    expect(restore.code, restore.stderr).toBe(13);
    const damagedPaths = usersOf(victim);
    for (const path of damagedPaths) expect(restore.stderr).toContain(path);
    expect(restoreDebris(target)).toStrictEqual([]);
    expect(
      treeDifferences(
        expectedAfterDamage(pristine.sourceTree, damagedPaths, undefined),
        describeTree(target),
      ),
    ).toStrictEqual([]);
  });

  it(`T3: ${T3_SWAPS} swaps of ciphertext between two data blob ids are caught on both sides`, async () => {
    const round = await newRound();
    const prng = new Prng(0x7301);
    const victims = prng.pick(pristine.dataIds, 2 * T3_SWAPS);
    for (let pair = 0; pair < T3_SWAPS; pair++) {
      const a = fromHex(victims[2 * pair] ?? "");
      const b = fromHex(victims[2 * pair + 1] ?? "");
      const bytesA = readStored(round.repo, a);
      const bytesB = readStored(round.repo, b);
      writeStored(round.repo, a, bytesB);
      writeStored(round.repo, b, bytesA);
    }
    await expectCaught(round, victims);
  });

  it(`T3: a data blob's bytes under ${T3_UNDER_TREE} directory tree ids are damaged trees, and nothing below them is restored`, async () => {
    const round = await newRound();
    const prng = new Prng(0x7302);
    const subtrees = [...pristine.layout.treeUsers.entries()]
      .filter(([, paths]) => !paths.includes(""))
      .map(([id]) => id)
      .sort();
    const victims = prng.pick(subtrees, T3_UNDER_TREE);
    const donors = prng.pick(pristine.dataIds, T3_UNDER_TREE);
    victims.forEach((id, index) => {
      writeStored(
        round.repo,
        fromHex(id),
        readStored(round.repo, fromHex(donors[index] ?? "")),
      );
    });
    await expectCaught(round, victims);
  });

  it(`T3: a data blob's bytes under the snapshot id (${T3_UNDER_SNAPSHOT} cases) are caught: check names the snapshot blob (exit 13), a client that saw that head refuses (14), and a fresh client skips it with a warning, as it must skip garbage anyone can put (issue 17)`, async () => {
    const [snapshotId] = pristine.layout.snapshots;
    if (snapshotId === undefined) throw new Error("no snapshot");
    const prng = new Prng(0x7303);
    for (const donor of prng.pick(pristine.dataIds, T3_UNDER_SNAPSHOT)) {
      const round = await newRound();
      const pinnedCache = join(round.dir, "pinned-cache");
      const seen = await runCli(["snapshots", round.repo], {
        cacheDir: pinnedCache,
      });
      expect(seen.code, seen.stderr).toBe(0);
      writeStored(
        round.repo,
        fromHex(snapshotId),
        readStored(round.repo, fromHex(donor)),
      );
      const hash = sha256File(databaseOf(round.repo));
      const check = await runCli(["--json", "check", round.repo], {
        cacheDir: round.cacheDir,
      });
      expect(check.code, check.stderr).toBe(13);
      expect(
        jsonProblems(check.stdout).map((problem) => [problem.kind, problem.id]),
      ).toContainEqual(["undecodable-snapshot", snapshotId]);
      const listed = await runCli(["--json", "snapshots", round.repo], {
        cacheDir: round.cacheDir,
      });
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stderr).toContain(
        `warning: snapshot blob ${snapshotId.slice(0, 16)} skipped`,
      );
      expect(isCleanError(listed.stderr), listed.stderr).toBe(true);
      expect(
        (JSON.parse(listed.stdout) as { id: string }[]).map((s) => s.id),
      ).not.toContain(snapshotId);
      const pinned = await runCli(["snapshots", round.repo], {
        cacheDir: pinnedCache,
      });
      expect(pinned.code, pinned.stderr).toBe(14);
      const target = join(round.dir, "target");
      const restore = await runCli(
        ["restore", round.repo, target, "--snapshot", snapshotId],
        { cacheDir: round.cacheDir },
      );
      expect(restore.code, restore.stderr).not.toBe(0);
      expect(isCleanError(restore.stderr), restore.stderr).toBe(true);
      // Nothing was restored and nothing was written to the repository.
      expect(existsSync(target) ? readdirSync(target) : []).toStrictEqual([]);
      expect(sha256File(databaseOf(round.repo))).toBe(hash);
    }
  });

  it(`T3: blobs copied from another repository under ${T3_FOREIGN} data ids and one tree id are caught`, async () => {
    const other = join(work, "other-repository");
    const cacheDir = join(work, "other-cache");
    expect((await runCli(["init", other], { cacheDir })).code).toBe(0);
    const backup = await runCli(["backup", pristine.source, other], {
      cacheDir,
    });
    expect(backup.code, backup.stderr).toBe(0);
    const foreignData = blobRows(other, KIND.data);
    const foreignTrees = blobRows(other, KIND.tree);
    // Keyed ids: the same files give other ids in another repository.
    expect(
      foreignData.some((row) => pristine.dataIds.includes(toHex(row.id))),
    ).toBe(false);

    const round = await newRound();
    const prng = new Prng(0x7304);
    const victims = prng.pick(pristine.dataIds, T3_FOREIGN);
    for (const id of victims) {
      const donor = prng.pick(foreignData, 1)[0];
      if (donor === undefined) throw new Error("no foreign blob");
      writeStored(round.repo, fromHex(id), readStored(other, donor.id));
    }
    const subtree = [...pristine.layout.treeUsers.entries()]
      .filter(([, paths]) => !paths.includes(""))
      .map(([id]) => id)
      .sort()[0];
    const foreignTree = foreignTrees[0];
    if (subtree === undefined || foreignTree === undefined)
      throw new Error("no trees");
    // Keep the tree victim apart from the data victims' directories.
    const underTree = usersOf(subtree)[0] ?? "";
    const dataVictims = victims.filter(
      (id) => !usersOf(id).some((path) => path.startsWith(`${underTree}/`)),
    );
    for (const id of victims.filter((id) => !dataVictims.includes(id)))
      writeStored(
        round.repo,
        fromHex(id),
        readStored(pristine.repo, fromHex(id)),
      );
    writeStored(
      round.repo,
      fromHex(subtree),
      readStored(other, foreignTree.id),
    );
    expect(dataVictims.length).toBeGreaterThan(0);
    await expectCaught(round, [...dataVictims, subtree]);
  });
});
