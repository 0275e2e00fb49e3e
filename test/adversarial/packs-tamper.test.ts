/**
 * T1–T3 and T7 on a pack directory (issue 19): storage that flips a byte in a pack's blob or
 * trailer, truncates a pack, swaps two packs (each renamed onto the other) or deletes one. The
 * blobs hit are an integrity error (exit 13): `check --read-data` names exactly them with the
 * files that use them, and the pack itself (read whole, it no longer hashes to its name), a
 * restore writes every other file exactly and none of theirs, and a keyless `scrub` names the
 * pack too. A trailer is read only for a pack no segment names (resume), so a forged one must
 * not get its blobs believed: the next backup uploads them again and the new snapshot is
 * complete, and check names the forged pack as refused.
 *
 * Which file uses which blob is read before any damage, with the library (pack-files.ts), and
 * where the blobs sit is read from the trailers without the key, as storage can.
 */
import { renameSync, rmSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  isCleanError,
  jsonProblems,
  jsonSummary,
  runCli,
} from "../helpers/cli.js";
import { expectRestoreSkipsDamaged } from "../helpers/damage.js";
import { flipByte, packPath, packsOf } from "../helpers/pack-files.js";
import {
  newPackRound,
  pristinePacks,
  usersOf,
  type PackRound,
  type PristinePacks,
} from "../helpers/pack-pristine.js";
import {
  describeTree,
  removeDir,
  tempDir,
  treeDifferences,
} from "../helpers/trees.js";

let work: string;
let pristine: PristinePacks;

beforeAll(async () => {
  work = await tempDir("blindsync-packs-tamper-");
  pristine = await pristinePacks(work);
});

afterAll(async () => {
  await removeDir(work);
});

function dataPack(index: number) {
  const pack = pristine.dataPacks[index];
  if (pack === undefined) throw new Error(`no data pack ${index}`);
  return pack;
}

/** Keyless scrub (no passphrase, no cache of the round's) names exactly `damaged` objects. */
async function expectScrubNames(
  round: PackRound,
  damaged: readonly string[],
): Promise<void> {
  const scrub = await runCli(["--json", "scrub", round.repo], {
    cacheDir: join(round.dir, "scrub-cache"),
    env: { BLINDSYNC_PASSWORD: undefined },
  });
  expect(scrub.code, scrub.stderr).toBe(13);
  expect(isCleanError(scrub.stderr), scrub.stderr).toBe(true);
  const named = scrub.stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { type: string; name?: string })
    .filter((line) => line.type === "damaged")
    .map((line) => line.name);
  expect(named.sort()).toStrictEqual([...damaged].sort());
}

function nameOf(pack: { readonly id: string }): string {
  return `packs/${pack.id.slice(0, 2)}/${pack.id}`;
}

/**
 * check --read-data names exactly `damaged` (of `kind`), each with the files that use it, and
 * exactly the `packs` read whole that no longer hash to their names, and exits 13; restore
 * into a fresh folder writes everything else exactly and exits 13.
 */
async function expectCaught(
  round: PackRound,
  damaged: readonly string[],
  kind: "damaged-blob" | "missing-blob",
  packs: readonly string[] = [],
): Promise<void> {
  const check = await round.cli(["--json", "check", "--read-data", round.repo]);
  expect(check.code, check.stderr).toBe(13);
  const all = jsonProblems(check.stdout);
  const damagedPacks = all.filter((problem) => problem.kind === "damaged-pack");
  expect(damagedPacks.map((problem) => problem.id).sort()).toStrictEqual(
    [...packs].sort(),
  );
  for (const problem of damagedPacks)
    expect(problem.reason).toMatch(/is damaged: its SHA-256 is not its name/);
  const problems = all.filter((problem) => problem.kind !== "damaged-pack");
  expect(problems.map((problem) => problem.id).sort()).toStrictEqual(
    [...damaged].sort(),
  );
  for (const problem of problems) {
    expect(problem.kind).toBe(kind);
    expect([...problem.paths].sort()).toStrictEqual(
      usersOf(pristine.layout, problem.id).sort(),
    );
  }
  await expectRestoreSkipsDamaged({
    repo: round.repo,
    target: join(round.dir, "restored"),
    cacheDir: round.cacheDir,
    source: pristine.sourceTree,
    damagedPaths: [
      ...new Set(damaged.flatMap((id) => usersOf(pristine.layout, id))),
    ],
  });
}

/** A backup after the damage exits 0, and the latest snapshot restores exactly. */
async function expectBackupComplete(
  round: PackRound,
  cacheDir: string,
): Promise<void> {
  const backup = await round.cli(
    ["backup", pristine.source, round.repo],
    cacheDir,
  );
  expect(backup.code, backup.stderr).toBe(0);
  const target = join(
    round.dir,
    `latest-${Math.random().toString(36).slice(2)}`,
  );
  const restore = await round.cli(["restore", round.repo, target], cacheDir);
  expect(restore.code, restore.stderr).toBe(0);
  expect(
    treeDifferences(pristine.sourceTree, describeTree(target)),
  ).toStrictEqual([]);
}

describe("damaged packs in a pack directory", () => {
  it("scrub of an intact pack directory needs no passphrase and finds every pack and segment intact (0); an ssh location is a usage error (2) saying to run it on the server", async () => {
    const round = newPackRound(work, pristine);
    const env = { BLINDSYNC_PASSWORD: undefined };
    const cacheDir = join(round.dir, "scrub-cache");
    const scrub = await runCli(["scrub", round.repo], { cacheDir, env });
    expect(scrub.code, scrub.stderr).toBe(0);
    expect(scrub.stdout).toMatch(
      /Scrubbed the packs and index segments: all intact/,
    );
    const remote = await runCli(["scrub", `localhost:${round.repo}`], {
      cacheDir,
      env,
    });
    expect(remote.code, remote.stderr).toBe(2);
    expect(remote.stderr).toMatch(/on the server/);
    expect(isCleanError(remote.stderr)).toBe(true);
  });

  it("a flipped byte inside one blob of a data pack fails exactly that blob (13), and scrub names the pack", async () => {
    const round = newPackRound(work, pristine);
    const pack = dataPack(1);
    const victim = pack.blobs[2];
    if (victim === undefined) throw new Error("no blob");
    flipByte(
      packPath(round.repo, pack.id),
      victim.offset + Math.floor(victim.length / 2),
    );
    await expectCaught(round, [victim.id], "damaged-blob", [nameOf(pack)]);
    await expectScrubNames(round, [nameOf(pack)]);
  });

  it("a flipped byte in a pack's trailer: check --read-data (13) and scrub name the pack; nothing is lost, and once the segment naming it is gone the forged trailer is not believed: the next backup uploads its blobs again, and check names the pack as refused", async () => {
    const round = newPackRound(work, pristine);
    const pack = dataPack(0);
    const path = packPath(round.repo, pack.id);
    // In the trailer's first entry: the blob id it lists.
    flipByte(path, pack.trailerAt + 40);
    await expectScrubNames(round, [nameOf(pack)]);
    // Every blob still opens: only the pack read whole shows the damage.
    const found = await round.cli([
      "--json",
      "check",
      "--read-data",
      round.repo,
    ]);
    expect(found.code, found.stderr).toBe(13);
    expect(
      jsonProblems(found.stdout).map((problem) => [problem.kind, problem.id]),
    ).toStrictEqual([["damaged-pack", nameOf(pack)]]);
    const text = await round.cli(["check", "--read-data", round.repo]);
    expect(text.code).toBe(13);
    expect(text.stdout).toContain(`pack ${nameOf(pack)} is damaged`);
    expect(isCleanError(text.stderr), text.stderr).toBe(true);
    // The blobs are read where the (authenticated) segment says: all there.
    const restore = await round.cli([
      "restore",
      round.repo,
      join(round.dir, "intact"),
    ]);
    expect(restore.code, restore.stderr).toBe(0);
    expect(
      treeDifferences(
        pristine.sourceTree,
        describeTree(join(round.dir, "intact")),
      ),
    ).toStrictEqual([]);

    // Storage drops the segment: only the trailer could index the pack now, and it is forged.
    const segment = pristine.segments[0];
    if (segment === undefined) throw new Error("no segment");
    rmSync(join(round.repo, "index", segment.id));
    const fresh = join(round.dir, "fresh-cache");
    const check = await round.cli(
      ["--json", "check", "--read-data", round.repo],
      fresh,
    );
    expect(check.code, check.stderr).toBe(13);
    await expectBackupComplete(round, fresh);
    // The re-uploaded blobs went into a new pack; the forged one is still not indexed.
    expect(packsOf(round.repo).filter((p) => p.kind === "data")).toHaveLength(
      4,
    );
    // Every snapshot is whole; the forged pack is named, refused, and counted, even without
    // --read-data (its trailer is read because no segment names it).
    const after = await round.cli(["--json", "check", round.repo], fresh);
    expect(after.code, after.stderr).toBe(13);
    const refused = jsonProblems(after.stdout);
    expect(refused.map((problem) => [problem.kind, problem.id])).toStrictEqual([
      ["refused-pack", nameOf(pack)],
    ]);
    expect(refused[0]?.reason).toMatch(/trailer does not authenticate/);
    expect(jsonSummary(after.stdout).storage).toMatchObject({
      refusedPacks: 1,
      damagedPacks: 0,
      refusedSegments: 0,
      unindexedPacks: 0,
    });
  });

  it("a truncated pack fails exactly the blobs that reach past the cut (13), and scrub names it", async () => {
    const round = newPackRound(work, pristine);
    const pack = dataPack(2);
    const cutAt = pack.blobs[1];
    if (cutAt === undefined) throw new Error("no blob");
    const cut = cutAt.offset + 100;
    truncateSync(packPath(round.repo, pack.id), cut);
    const lost = pack.blobs
      .filter((blob) => blob.offset + blob.length > cut)
      .map((blob) => blob.id);
    expect(lost.length).toBe(pack.blobs.length - 1);
    await expectCaught(round, lost, "damaged-blob", [nameOf(pack)]);
    await expectScrubNames(round, [nameOf(pack)]);
  });

  it("two data packs renamed onto each other fail every blob of both (13), and scrub names both", async () => {
    const round = newPackRound(work, pristine);
    const [a, b] = [dataPack(0), dataPack(1)];
    const pathA = packPath(round.repo, a.id);
    const pathB = packPath(round.repo, b.id);
    renameSync(pathA, `${pathA}.swap`);
    renameSync(pathB, pathA);
    renameSync(`${pathA}.swap`, pathB);
    const victims = [...a.blobs, ...b.blobs].map((blob) => blob.id);
    await expectCaught(round, victims, "damaged-blob", [nameOf(a), nameOf(b)]);
    await expectScrubNames(round, [nameOf(a), nameOf(b)]);
  });

  it("a deleted data pack: check, even without --read-data, names each of its blobs as missing with its files (13), and the next backup stores them again", async () => {
    const round = newPackRound(work, pristine);
    const seen = await round.cli(["snapshots", round.repo]);
    expect(seen.code, seen.stderr).toBe(0);
    const pack = dataPack(1);
    rmSync(packPath(round.repo, pack.id));
    const victims = pack.blobs.map((blob) => blob.id);
    const quick = await round.cli(["--json", "check", round.repo]);
    expect(quick.code, quick.stderr).toBe(13);
    expect(
      jsonProblems(quick.stdout)
        .map((problem) => problem.id)
        .sort(),
    ).toStrictEqual([...victims].sort());
    await expectCaught(round, victims, "missing-blob");
    // A client that had read the index, and one that never saw the repository.
    for (const cacheDir of [round.cacheDir, join(round.dir, "fresh-cache")]) {
      await expectBackupComplete(round, cacheDir);
      const check = await round.cli(
        ["--json", "check", "--read-data", round.repo],
        cacheDir,
      );
      expect(check.code, check.stderr).toBe(0);
    }
  });
});
